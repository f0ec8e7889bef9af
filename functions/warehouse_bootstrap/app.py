"""WarehouseBootstrapFunction: CloudFormation custom resource that makes the warehouse ready for the pipeline.

Create and Update: schema and tables when missing, the pipeline roles' database privileges, the
shipped airports into an empty ``airports_dim`` (see airline_pipeline.adapters.warehouse.bootstrap). Delete:
nothing - the warehouse's data outlives the stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airline_pipeline.adapters.warehouse import describe
from airline_pipeline.adapters.warehouse.bootstrap import SignIn, bootstrap_warehouse
from airline_pipeline.steps.custom_resource import run_custom_resource
from airline_pipeline.steps.powertools import logger


def bootstrap(properties: Mapping[str, Any]) -> dict[str, str]:
    sign_in = SignIn(
        admin_secret_arn=properties.get("AdminSecretArn", ""),
        admin_db_user=properties.get("AdminDbUser", ""),
        pipeline_db_user=properties.get("DbUser", ""),
        database=properties.get("Database", ""),
    )
    result = bootstrap_warehouse(properties["WarehouseUri"], sign_in)
    logger.info("warehouse bootstrap done", extra=result.as_data())
    return result.as_data()


def handler(event: dict[str, Any], context: Any) -> None:
    uri = str(event.get("ResourceProperties", {}).get("WarehouseUri", ""))
    run_custom_resource(event, bootstrap, physical_id=f"warehouse-bootstrap:{describe(uri)}")
