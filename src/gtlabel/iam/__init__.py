"""Least-privilege IAM policies and a CloudFormation template for a gtlabel project.

Pure functions: every builder takes the project's resources (bucket, prefixes, KMS key, SNS topic,
custom Lambdas, execution role) and returns a JSON-ready dict. Nothing here calls AWS.

Two principals (see docs/SECURITY.md):

- the **Ground Truth execution role** (``RoleArn`` of ``CreateLabelingJob``): reads the input prefixes
  (manifest, images, label-category file, worker template), writes the output prefix, uses the project's
  KMS key, invokes only the named custom Lambdas, writes its CloudWatch logs. Nothing else.
- the **data scientist** (a Studio execution role, or a person's role): creates/describes/lists/stops
  labeling jobs in the account and Region, passes *that* execution role to SageMaker only, reads and
  writes the project prefixes, publishes budget alerts, renders UI templates, lists/describes workteams
  and optionally manages them.

Each principal's policy is two parts, so the grants can be proven on moto (which applies a ``Deny``
with a ``Condition`` unconditionally, see docs/SECURITY.md) while the guardrails still ship:

- ``grants``: the ``Allow`` statements;
- ``guardrails``: ``Deny`` statements with conditions: TLS only (``aws:SecureTransport``), SSE-KMS with
  the project key on every upload (``s3:x-amz-server-side-encryption`` = ``aws:kms`` and
  ``s3:x-amz-server-side-encryption-aws-kms-key-id`` = the key ARN), labeling jobs must name the project
  key for their output (``sagemaker:OutputKmsKey``), and optionally no public (Mechanical Turk) workforce
  (``sagemaker:WorkteamArn`` like ``*:workteam/public-crowd/*``).

:func:`policy_document` joins both parts into one document (identical meaning to attaching both).

One module per job: :mod:`.resources` (the project's resources, validated), :mod:`.policies` (the two
principals' statements) and :mod:`.cloudformation` (the template that creates both roles).
"""

from __future__ import annotations

from gtlabel.iam.cloudformation import cloudformation_template, dump_template
from gtlabel.iam.policies import (
    PUBLIC_WORKFORCE_ARN_PATTERN,
    ROLES,
    Part,
    PolicyDoc,
    Role,
    Statement,
    data_scientist_grants,
    data_scientist_guardrails,
    execution_role_grants,
    execution_role_guardrails,
    execution_role_trust_policy,
    policy_document,
)
from gtlabel.iam.resources import LABELING_JOB_LOG_GROUP, ProjectResources, project_resources

__all__ = [
    "LABELING_JOB_LOG_GROUP",
    "PUBLIC_WORKFORCE_ARN_PATTERN",
    "ROLES",
    "Part",
    "PolicyDoc",
    "ProjectResources",
    "Role",
    "Statement",
    "cloudformation_template",
    "data_scientist_grants",
    "data_scientist_guardrails",
    "dump_template",
    "execution_role_grants",
    "execution_role_guardrails",
    "execution_role_trust_policy",
    "policy_document",
    "project_resources",
]
