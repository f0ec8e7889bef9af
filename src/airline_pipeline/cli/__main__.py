"""``python -m airline_pipeline.cli``: the same as the ``airline-pipeline`` command."""

import sys

from airline_pipeline.cli import main

sys.exit(main())
