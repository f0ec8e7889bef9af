"""The e2e tier's deployments: where the checkout is, the call recorder, and the AWS-like parameters."""

from __future__ import annotations

from pathlib import Path

from airline_pipeline.local.emulator import ACCOUNT, REGION

ROOT = Path(__file__).resolve().parents[2]
RECORDER = Path(__file__).resolve().parent / "recorder"

#: A deployment as it would be in AWS (Environment dev, X-Ray on, Redshift Serverless with a staging
#: bucket of its own): deployed only for its IAM roles, which test_iam.py evaluates.
AWS_LIKE_STACK = "airline-pipeline-dev"
WORKGROUP = "analytics"
WORKGROUP_ARN = f"arn:aws:redshift-serverless:{REGION}:{ACCOUNT}:workgroup/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
STAGING_BUCKET = "stage-bucket"
COPY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/redshift-copy"
AWS_LIKE_PARAMETERS = {
    "Environment": "dev",
    "WarehouseEngine": "redshift-data",
    "WarehouseLocation": f"{WORKGROUP}/dev?iam_role={COPY_ROLE}&staging=s3://{STAGING_BUCKET}/staging/",
    "RedshiftResourceArn": WORKGROUP_ARN,
    "StagingBucketName": STAGING_BUCKET,
    # the namespace's managed admin secret, which the WarehouseBootstrap signs in with
    "RedshiftAdminSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:redshift!analytics-admin-AbCdEf",
    "ExpectedBy": "cron(0 6 * * ? *)",
}
#: On top of samconfig.toml's local parameters: the missing-file check (test_freshness.py invokes its target).
LOCAL_PARAMETERS = {"ExpectedBy": "cron(0 6 * * ? *)"}
