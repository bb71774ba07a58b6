"""The seed's example 1, with only its import line changed (plus environment parameters for test runs).

Environment: GTLABEL_EXAMPLE_BUCKET (default ``my-bucket``), GTLABEL_EXAMPLE_JOB_NAME (default
``drone-objects-2026-11-25``; job names are permanent, so a second run on the same account needs a new one),
GTLABEL_ROLE_ARN (the execution role), and the usual AWS_* variables (``AWS_ENDPOINT_URL_SAGEMAKER`` /
``AWS_ENDPOINT_URL_S3`` point it at the local service).
"""

import os

import boto3

from gtlabel.ground_truth_utils import create_labeling_job_config

BUCKET = os.environ.get("GTLABEL_EXAMPLE_BUCKET", "my-bucket")
JOB_NAME = os.environ.get("GTLABEL_EXAMPLE_JOB_NAME", "drone-objects-2026-11-25")

cfg = create_labeling_job_config(
    job_name=JOB_NAME, input_path=f"s3://{BUCKET}/raw/drone/", output_path=f"s3://{BUCKET}/labels/",
    task_type="BoundingBox", worker_type="private", labels=["drone", "vehicle", "person", "building"],
    instructions="Draw a tight box around every drone, vehicle, person and building.", max_budget_usd=50.0)
boto3.client("sagemaker").create_labeling_job(**cfg)
