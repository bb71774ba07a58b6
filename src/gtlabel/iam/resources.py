"""The project's resources that the policies are scoped to (bucket, prefixes, KMS key, SNS topic, custom
Lambdas, execution role), validated: :func:`project_resources`; :func:`placeholder_resources` gives the
CloudFormation template's ``${...}`` version."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gtlabel.errors import ConfigError

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


def clean_prefix(prefix: str, option: str) -> str:
    """``prefix`` without surrounding slashes; :class:`ConfigError` naming ``option`` if it is not a plain prefix."""
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
    ins = tuple(dict.fromkeys(clean_prefix(p, "--input-prefix") for p in input_prefixes))
    out = clean_prefix(output_prefix, "--output-prefix")
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



def placeholder_resources(
    input_prefix: str, output_prefix: str, lambda_arns: Sequence[str],
    allow_workteam_management: bool, forbid_public_workforce: bool,
) -> ProjectResources:
    """The resources as the template's ``${...}`` placeholders (the prefixes and Lambdas given are checked)."""
    clean_prefix(input_prefix, "--input-prefix")
    clean_prefix(output_prefix, "--output-prefix")
    for arn in lambda_arns:
        _check(arn, _LAMBDA_RE, "--lambda", "a Lambda function ARN arn:aws:lambda:<region>:<account>:function:<name>")
    return ProjectResources(
        bucket="${DataBucket}", input_prefixes=("${InputPrefix}",), output_prefix="${OutputPrefix}",
        kms_key_arn="${DataKey.Arn}", topic_arn="${BudgetTopic}", lambda_arns=tuple(lambda_arns),
        execution_role_arn="${GroundTruthExecutionRole.Arn}", account_id="${AWS::AccountId}",
        region="${AWS::Region}", partition="${AWS::Partition}",
        allow_workteam_management=allow_workteam_management, forbid_public_workforce=forbid_public_workforce,
    )

