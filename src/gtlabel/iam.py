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
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import yaml

from gtlabel.errors import ConfigError

__all__ = [
    "PUBLIC_WORKFORCE_ARN_PATTERN",
    "ROLES",
    "ProjectResources",
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

Role = Literal["execution-role", "data-scientist"]
Part = Literal["all", "grants", "guardrails"]
ROLES: tuple[Role, ...] = ("execution-role", "data-scientist")
Statement = dict[str, Any]
PolicyDoc = dict[str, Any]

#: The public (Mechanical Turk) workforce's workteam ARNs look like
#: ``arn:aws:sagemaker:<region>:394669845002:workteam/public-crowd/default`` (reference/ground-truth.md 2.3).
PUBLIC_WORKFORCE_ARN_PATTERN = "arn:*:sagemaker:*:*:workteam/public-crowd/*"
#: Ground Truth writes its job logs here (reference/ground-truth.md 7.2).
LABELING_JOB_LOG_GROUP = "/aws/sagemaker/LabelingJobs"

_BUCKET_RE = re.compile(r"^(?!xn--)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9!_.'()=+@,;:&$ -]+(/[A-Za-z0-9!_.'()=+@,;:&$ -]+)*$")
_KMS_KEY_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_TOPIC_RE = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
_LAMBDA_RE = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]+)?$")
_ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@/-]+$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


@dataclass(frozen=True)
class ProjectResources:
    """What the policies are scoped to. Build it with :func:`project_resources` (validates everything);
    the CloudFormation template builds one with ``${...}`` placeholders instead."""

    bucket: str
    input_prefixes: tuple[str, ...]
    output_prefix: str
    kms_key_arn: str | None
    topic_arn: str | None
    lambda_arns: tuple[str, ...]
    execution_role_arn: str | None
    account_id: str
    region: str
    partition: str = "aws"
    allow_workteam_management: bool = False
    forbid_public_workforce: bool = False
    list_whole_bucket: bool = False

    # -- ARNs -----------------------------------------------------------------------------------------
    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    def objects_arn(self, prefix: str) -> str:
        return f"{self.bucket_arn}/{prefix}/*"

    @property
    def project_prefixes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.input_prefixes, self.output_prefix)))

    @property
    def labeling_job_arn(self) -> str:
        return f"arn:{self.partition}:sagemaker:{self.region}:{self.account_id}:labeling-job/*"

    @property
    def workteam_arn(self) -> str:
        return f"arn:{self.partition}:sagemaker:{self.region}:{self.account_id}:workteam/*"

    @property
    def log_group_arns(self) -> list[str]:
        base = f"arn:{self.partition}:logs:{self.region}:{self.account_id}:log-group:{LABELING_JOB_LOG_GROUP}"
        return [base, f"{base}:log-stream:*"]


def _arn_field(arn: str, index: int) -> str:
    parts = arn.split(":")
    return parts[index] if len(parts) > index else ""


def _clean_prefix(prefix: str, option: str) -> str:
    p = prefix.strip().strip("/")
    if not p:
        raise ConfigError(f"{option}: a prefix is needed (a bucket-wide grant is not least privilege); got {prefix!r}")
    if "*" in p or "?" in p or "${" in p:
        raise ConfigError(f"{option}: wildcards and policy variables are not allowed in a prefix; got {prefix!r}")
    if not _PREFIX_RE.match(p):
        raise ConfigError(f"{option}: {prefix!r} is not a valid S3 key prefix (letters, digits, !_.'()=+@,;:&$- and /)")
    return p


def _check(value: str | None, pattern: re.Pattern[str], option: str, expected: str) -> None:
    if value is not None and not pattern.match(value):
        raise ConfigError(f"{option}: expected {expected}; got {value!r}")


def project_resources(
    *,
    bucket: str,
    input_prefixes: Sequence[str],
    output_prefix: str,
    kms_key_arn: str | None = None,
    topic_arn: str | None = None,
    lambda_arns: Sequence[str] = (),
    execution_role_arn: str | None = None,
    account_id: str | None = None,
    region: str | None = None,
    allow_workteam_management: bool = False,
    forbid_public_workforce: bool = False,
    list_whole_bucket: bool = False,
) -> ProjectResources:
    """Validate the user's resources and return them, with account, Region and partition taken from the
    ARNs given (or the explicit ``account_id``/``region``). Raises :class:`ConfigError` naming the option."""
    if not _BUCKET_RE.match(bucket or ""):
        raise ConfigError(f"--bucket: {bucket!r} is not a valid S3 bucket name (3-63 chars: a-z 0-9 . -)")
    if not input_prefixes:
        raise ConfigError("--input-prefix: at least one input prefix is needed")
    ins = tuple(dict.fromkeys(_clean_prefix(p, "--input-prefix") for p in input_prefixes))
    out = _clean_prefix(output_prefix, "--output-prefix")
    if kms_key_arn is not None and kms_key_arn.startswith(("alias/", "arn:aws:kms")) and ":alias/" in kms_key_arn:
        raise ConfigError(f"--kms-key: give the key ARN, not an alias (S3 conditions compare key ARNs); got {kms_key_arn!r}")
    _check(kms_key_arn, _KMS_KEY_RE, "--kms-key", "a KMS key ARN arn:aws:kms:<region>:<account>:key/<id>")
    _check(topic_arn, _TOPIC_RE, "--topic", "an SNS topic ARN arn:aws:sns:<region>:<account>:<name>")
    for arn in lambda_arns:
        _check(arn, _LAMBDA_RE, "--lambda", "a Lambda function ARN arn:aws:lambda:<region>:<account>:function:<name>")
    _check(execution_role_arn, _ROLE_RE, "--execution-role", "an IAM role ARN arn:aws:iam::<account>:role/<name>")

    arns = [a for a in (kms_key_arn, topic_arn, execution_role_arn, *lambda_arns) if a]
    accounts = {_arn_field(a, 4) for a in arns}
    regions = {_arn_field(a, 3) for a in arns if _arn_field(a, 3)}
    partitions = {_arn_field(a, 1) for a in arns}
    acct = account_id or (accounts.pop() if len(accounts) == 1 else None)
    if acct is None:
        raise ConfigError("--account: cannot tell the AWS account from the ARNs given "
                          f"({sorted(accounts) or 'none'}); pass --account <12 digits>")
    reg = region or (regions.pop() if len(regions) == 1 else None)
    if reg is None:
        raise ConfigError("--region: cannot tell the Region from the ARNs given "
                          f"({sorted(regions) or 'none'}); pass --region, e.g. us-east-1")
    _check(acct, _ACCOUNT_RE, "--account", "12 digits")
    _check(reg, _REGION_RE, "--region", "a Region name such as us-east-1")
    if len(partitions) > 1:
        raise ConfigError(f"the ARNs given mix partitions {sorted(partitions)}")
    return ProjectResources(
        bucket=bucket, input_prefixes=ins, output_prefix=out, kms_key_arn=kms_key_arn, topic_arn=topic_arn,
        lambda_arns=tuple(dict.fromkeys(lambda_arns)), execution_role_arn=execution_role_arn,
        account_id=acct, region=reg, partition=partitions.pop() if partitions else "aws",
        allow_workteam_management=allow_workteam_management, forbid_public_workforce=forbid_public_workforce,
        list_whole_bucket=list_whole_bucket,
    )


# ------------------------------------------------------------------------------------------------ pieces
def _prefix_list_condition(prefixes: Iterable[str]) -> dict[str, Any]:
    values: list[str] = []
    for p in prefixes:
        values += [p, f"{p}/*"]
    return {"StringLike": {"s3:prefix": values}}


def _kms_use(res: ProjectResources, actions: list[str], sid: str) -> list[Statement]:
    if not res.kms_key_arn:
        return []
    return [{"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": res.kms_key_arn}]


def _s3_guardrails(res: ProjectResources, write_prefixes: Sequence[str]) -> list[Statement]:
    """TLS only on the bucket; SSE-KMS with the project key on every upload under ``write_prefixes``."""
    out: list[Statement] = [{
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Action": "s3:*",
        "Resource": [res.bucket_arn, f"{res.bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }]
    if res.kms_key_arn:
        objects = [res.objects_arn(p) for p in write_prefixes]
        out += [
            {   # a missing header also matches StringNotEquals, so this requires SSE-KMS on every upload
                "Sid": "DenyUploadsWithoutSseKms",
                "Effect": "Deny",
                "Action": "s3:PutObject",
                "Resource": objects,
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            },
            {
                "Sid": "DenyUploadsWithOtherKmsKey",
                "Effect": "Deny",
                "Action": "s3:PutObject",
                "Resource": objects,
                # the key id is ARN-typed in IAM, hence ArnNotEquals (a missing key id matches too)
                "Condition": {"ArnNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": res.kms_key_arn}},
            },
        ]
    return out


# ------------------------------------------------------------------------------------------------ execution role
def execution_role_grants(res: ProjectResources) -> list[Statement]:
    """What Ground Truth itself needs while it runs a job with this role, and nothing more."""
    st: list[Statement] = [
        {
            "Sid": "ReadInputs",  # manifest, images, label-category config, worker UI template
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [res.objects_arn(p) for p in res.input_prefixes],
        },
        {
            "Sid": "ListProjectPrefixes",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": res.bucket_arn,
            "Condition": _prefix_list_condition((*res.input_prefixes, res.output_prefix)),
        },
        {
            # GT writes the output manifest, annotations and worker responses, and reads back its own
            # intermediate files (consolidation requests, iteration manifests) under the output prefix.
            "Sid": "WriteOutputs",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
            "Resource": res.objects_arn(res.output_prefix),
        },
    ]
    # Decrypt: SSE-KMS inputs (and presigned image URLs for workers); GenerateDataKey/Encrypt: SSE-KMS output
    # (OutputConfig.KmsKeyId); Decrypt is also needed to complete multipart uploads of SSE-KMS objects.
    st += _kms_use(res, ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], "UseProjectKey")
    if res.lambda_arns:
        st.append({
            "Sid": "InvokeCustomLambdas",  # only the named pre-/post-annotation Lambdas
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": list(res.lambda_arns),
        })
    st.append({
        "Sid": "WriteLabelingJobLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        "Resource": res.log_group_arns,
    })
    return st


def execution_role_guardrails(res: ProjectResources) -> list[Statement]:
    return _s3_guardrails(res, [res.output_prefix])


def execution_role_trust_policy(account_id: str) -> PolicyDoc:
    """SageMaker may assume the role, only on behalf of this account (confused-deputy protection)."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }],
    }


# ------------------------------------------------------------------------------------------------ data scientist
def data_scientist_grants(res: ProjectResources) -> list[Statement]:
    """What the notebook / CLI user needs for the whole gtlabel workflow."""
    if not res.execution_role_arn:
        raise ConfigError("--execution-role: the data scientist's policy passes one execution role to "
                          "SageMaker; give its ARN (arn:aws:iam::<account>:role/<name>)")
    prefixes = res.project_prefixes
    st: list[Statement] = [
        {
            "Sid": "ManageLabelingJobs",
            "Effect": "Allow",
            "Action": ["sagemaker:CreateLabelingJob", "sagemaker:DescribeLabelingJob", "sagemaker:StopLabelingJob"],
            "Resource": res.labeling_job_arn,
        },
        {
            # CreateLabelingJob with Tags also needs AddTags; allowed only as part of that create call
            "Sid": "TagLabelingJobsOnCreate",
            "Effect": "Allow",
            "Action": "sagemaker:AddTags",
            "Resource": res.labeling_job_arn,
            "Condition": {"StringEquals": {"sagemaker:TaggingAction": "CreateLabelingJob"}},
        },
        {
            # These three have no resource type in IAM (Service Authorization Reference): "*" is the only choice.
            "Sid": "ListJobsWorkteamsRenderTemplates",
            "Effect": "Allow",
            "Action": ["sagemaker:ListLabelingJobs", "sagemaker:ListWorkteams", "sagemaker:RenderUiTemplate"],
            "Resource": "*",
        },
        {
            "Sid": "ReadWorkteams",
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeWorkteam", "sagemaker:ListLabelingJobsForWorkteam"],
            "Resource": res.workteam_arn,
        },
        {
            "Sid": "PassExecutionRoleToSageMakerOnly",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": res.execution_role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
        {
            "Sid": "ReadWriteProjectObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": [res.objects_arn(p) for p in prefixes],
        },
        _data_scientist_list(res, prefixes),
        # the job builder checks that the manifest/output buckets are in the job's region before the call
        {"Sid": "LocateProjectBucket", "Effect": "Allow", "Action": "s3:GetBucketLocation",
         "Resource": res.bucket_arn},
    ]
    # GenerateDataKey: SSE-KMS uploads; Decrypt: reads and multipart completion; Encrypt: direct use.
    st += _kms_use(res, ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], "UseProjectKey")
    if res.topic_arn:
        st.append({"Sid": "PublishBudgetAlerts", "Effect": "Allow", "Action": "sns:Publish",
                   "Resource": res.topic_arn})
    if res.allow_workteam_management:
        st.append({
            "Sid": "ManageWorkteams",
            "Effect": "Allow",
            "Action": ["sagemaker:CreateWorkteam", "sagemaker:UpdateWorkteam", "sagemaker:DeleteWorkteam"],
            "Resource": res.workteam_arn,
        })
    return st


def _data_scientist_list(res: ProjectResources, prefixes: Sequence[str]) -> Statement:
    """ListBucket on the project prefixes, or (``list_whole_bucket``, for a bucket dedicated to the project)
    on the whole bucket. Without an unconditional ListBucket, S3 answers a HEAD/GET of a *missing* object with
    403 instead of 404, so "does this dataset already exist?" checks read as errors (docs/SECURITY.md 1.2)."""
    if res.list_whole_bucket:
        return {"Sid": "ListProjectBucket", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": res.bucket_arn}
    return {"Sid": "ListProjectPrefixes", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": res.bucket_arn,
            "Condition": _prefix_list_condition(prefixes)}


def data_scientist_guardrails(res: ProjectResources) -> list[Statement]:
    st = _s3_guardrails(res, res.project_prefixes)
    if res.kms_key_arn:
        st.append({
            # OutputConfig.KmsKeyId must be the project key (a missing key id matches StringNotEquals too)
            "Sid": "DenyLabelingJobsWithoutProjectKey",
            "Effect": "Deny",
            "Action": "sagemaker:CreateLabelingJob",
            "Resource": res.labeling_job_arn,
            "Condition": {"ArnNotEquals": {"sagemaker:OutputKmsKey": res.kms_key_arn}},
        })
    if res.forbid_public_workforce:
        st.append({
            "Sid": "DenyPublicWorkforce",  # sensitive data must never go to Mechanical Turk
            "Effect": "Deny",
            "Action": "sagemaker:CreateLabelingJob",
            "Resource": res.labeling_job_arn,
            "Condition": {"ArnLike": {"sagemaker:WorkteamArn": PUBLIC_WORKFORCE_ARN_PATTERN}},
        })
    return st


_BUILDERS = {
    "execution-role": (execution_role_grants, execution_role_guardrails),
    "data-scientist": (data_scientist_grants, data_scientist_guardrails),
}


def policy_document(role: Role, res: ProjectResources, part: Part = "all") -> PolicyDoc:
    """The identity policy for ``role``: grants, guardrails, or both joined (``all``)."""
    if role not in _BUILDERS:
        raise ConfigError(f"role: expected one of {', '.join(ROLES)}; got {role!r}")
    if part not in ("all", "grants", "guardrails"):
        raise ConfigError(f"part: expected all, grants or guardrails; got {part!r}")
    grants, guards = _BUILDERS[role]
    statements: list[Statement] = []
    if part in ("all", "grants"):
        statements += grants(res)
    if part in ("all", "guardrails"):
        statements += guards(res)
    return {"Version": "2012-10-17", "Statement": statements}


# ------------------------------------------------------------------------------------------------ CloudFormation
def _sub(value: Any) -> Any:
    """Wrap every string holding a ``${...}`` placeholder in ``Fn::Sub`` (recursively)."""
    if isinstance(value, str):
        return {"Fn::Sub": value} if "${" in value else value
    if isinstance(value, Mapping):
        return {k: _sub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sub(v) for v in value]
    return value


def _template_resources(
    input_prefix: str, output_prefix: str, lambda_arns: Sequence[str],
    allow_workteam_management: bool, forbid_public_workforce: bool,
) -> ProjectResources:
    _clean_prefix(input_prefix, "--input-prefix")
    _clean_prefix(output_prefix, "--output-prefix")
    for arn in lambda_arns:
        _check(arn, _LAMBDA_RE, "--lambda", "a Lambda function ARN arn:aws:lambda:<region>:<account>:function:<name>")
    return ProjectResources(
        bucket="${DataBucket}", input_prefixes=("${InputPrefix}",), output_prefix="${OutputPrefix}",
        kms_key_arn="${DataKey.Arn}", topic_arn="${BudgetTopic}", lambda_arns=tuple(lambda_arns),
        execution_role_arn="${GroundTruthExecutionRole.Arn}", account_id="${AWS::AccountId}",
        region="${AWS::Region}", partition="${AWS::Partition}",
        allow_workteam_management=allow_workteam_management, forbid_public_workforce=forbid_public_workforce,
    )


def cloudformation_template(
    *,
    input_prefix: str = "gtlabel/input",
    output_prefix: str = "gtlabel/output",
    lambda_arns: Sequence[str] = (),
    allow_workteam_management: bool = False,
    forbid_public_workforce: bool = True,
) -> dict[str, Any]:
    """A CloudFormation template: KMS key (rotation on, key policy), data bucket (SSE-KMS by default,
    bucket key, public access blocked, versioning, the CORS rule Ground Truth needs, TLS-only and
    SSE-KMS-only bucket policy), KMS-encrypted budget-alert SNS topic (TLS-only topic policy), the Ground
    Truth execution role and the data scientist's role with the policies of :func:`policy_document`.

    The prefixes become parameters (defaults from the arguments); Lambda ARNs and the two switches are
    baked in. Delete protection: the key and the bucket are retained when the stack is deleted."""
    res = _template_resources(input_prefix, output_prefix, lambda_arns, allow_workteam_management,
                              forbid_public_workforce)
    # The two roles are created by this stack and known only by ARN inside it. The bucket is dedicated to
    # the project, so the data scientist may list all of it (404s for missing objects, see _data_scientist_list).
    exec_res = replace(res, execution_role_arn=None)
    res = replace(res, list_whole_bucket=True)
    root = "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"
    prefix_param = {
        "Type": "String",
        "AllowedPattern": r"^[A-Za-z0-9!_.'()=+@,;:&$ -]+(/[A-Za-z0-9!_.'()=+@,;:&$ -]+)*$",
        "ConstraintDescription": "an S3 key prefix without leading/trailing '/' and without wildcards",
    }
    key_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                # The account root keeps full control so the key can never become unmanageable; IAM policies
                # (the two roles below) then decide who may use it. This is AWS's default key policy.
                "Sid": "AccountAdministersKey",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                # SNS decrypts/encrypts messages of the budget topic with this key on the publisher's behalf.
                "Sid": "AllowSnsForBudgetTopic",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"}},
            },
        ],
    }
    bucket_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["${DataBucket.Arn}", "${DataBucket.Arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyUploadsWithoutSseKms",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": "${DataBucket.Arn}/*",
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            },
            {
                "Sid": "DenyUploadsWithOtherKmsKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": "${DataBucket.Arn}/*",
                "Condition": {"ArnNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "${DataKey.Arn}"}},
            },
        ],
    }
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "gtlabel: Ground Truth labeling project (KMS key, data bucket, budget topic, least-privilege roles)",
        "Parameters": {
            "InputPrefix": {**prefix_param, "Default": _clean_prefix(input_prefix, "--input-prefix"),
                            "Description": "Prefix of manifests, images, label config and worker template"},
            "OutputPrefix": {**prefix_param, "Default": _clean_prefix(output_prefix, "--output-prefix"),
                             "Description": "Prefix Ground Truth writes its output to (and datasets go under)"},
        },
        "Resources": {
            "DataKey": {
                "Type": "AWS::KMS::Key",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "Description": "gtlabel project data key (S3 objects, labeling job output, budget topic)",
                    "EnableKeyRotation": True,
                    "KeyPolicy": key_policy,
                },
            },
            "DataKeyAlias": {
                "Type": "AWS::KMS::Alias",
                "Properties": {"AliasName": "alias/${AWS::StackName}-data", "TargetKeyId": {"Ref": "DataKey"}},
            },
            "DataBucket": {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "BucketEncryption": {"ServerSideEncryptionConfiguration": [{
                        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                          "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]}},
                        "BucketKeyEnabled": True,
                    }]},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True, "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
                    },
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                    "VersioningConfiguration": {"Status": "Enabled"},
                    # Ground Truth's worker UI loads images cross-origin; without this rule tasks fail
                    # (reference/ground-truth.md 9, pitfall 3; DG sms-cors-update).
                    "CorsConfiguration": {"CorsRules": [{
                        "AllowedMethods": ["GET"],
                        "AllowedOrigins": ["*"],
                        "AllowedHeaders": [],
                        "ExposedHeaders": ["Access-Control-Allow-Origin"],
                    }]},
                },
            },
            "DataBucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {"Bucket": {"Ref": "DataBucket"}, "PolicyDocument": bucket_policy},
            },
            "BudgetTopic": {
                "Type": "AWS::SNS::Topic",
                "Properties": {
                    "DisplayName": "gtlabel budget alerts",
                    "KmsMasterKeyId": {"Fn::GetAtt": ["DataKey", "Arn"]},
                },
            },
            "BudgetTopicPolicy": {
                "Type": "AWS::SNS::TopicPolicy",
                "Properties": {
                    "Topics": [{"Ref": "BudgetTopic"}],
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "sns:Publish",
                        "Resource": "${BudgetTopic}",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }]},
                },
            },
            "GroundTruthExecutionRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Description": "Ground Truth labeling jobs of this gtlabel project (RoleArn of CreateLabelingJob)",
                    "AssumeRolePolicyDocument": execution_role_trust_policy("${AWS::AccountId}"),
                    "Policies": [
                        {"PolicyName": "gtlabel-execution-grants",
                         "PolicyDocument": policy_document("execution-role", exec_res, "grants")},
                        {"PolicyName": "gtlabel-execution-guardrails",
                         "PolicyDocument": policy_document("execution-role", exec_res, "guardrails")},
                    ],
                },
            },
            "DataScientistRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Description": "The data scientist's role for this gtlabel project (notebook or CLI)",
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                        # people of this account (through their own IAM permissions) and SageMaker Studio
                        {"Effect": "Allow", "Principal": {"AWS": root}, "Action": "sts:AssumeRole"},
                        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                         "Action": "sts:AssumeRole",
                         "Condition": {"StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"}}},
                    ]},
                    "Policies": [
                        {"PolicyName": "gtlabel-data-scientist-grants",
                         "PolicyDocument": policy_document("data-scientist", res, "grants")},
                        {"PolicyName": "gtlabel-data-scientist-guardrails",
                         "PolicyDocument": policy_document("data-scientist", res, "guardrails")},
                    ],
                },
            },
        },
        "Outputs": {
            "BucketName": {"Value": {"Ref": "DataBucket"}},
            "KmsKeyArn": {"Value": {"Fn::GetAtt": ["DataKey", "Arn"]}},
            "BudgetTopicArn": {"Value": {"Ref": "BudgetTopic"}},
            "ExecutionRoleArn": {"Value": {"Fn::GetAtt": ["GroundTruthExecutionRole", "Arn"]}},
            "DataScientistRoleArn": {"Value": {"Fn::GetAtt": ["DataScientistRole", "Arn"]}},
        },
    }
    out: dict[str, Any] = _sub(template)
    return out


def dump_template(template: Mapping[str, Any], fmt: Literal["yaml", "json"] = "yaml") -> str:
    """Serialize a template as YAML (long-form intrinsics, so no custom tags) or JSON."""
    if fmt == "json":
        return json.dumps(template, indent=2) + "\n"
    if fmt == "yaml":
        return str(yaml.safe_dump(dict(template), sort_keys=False, default_flow_style=False, width=120))
    raise ConfigError(f"--format: expected yaml or json; got {fmt!r}")
