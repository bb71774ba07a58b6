"""The two principals' identity policies: the Ground Truth execution role and the data scientist, each as
``grants`` (``Allow``) and ``guardrails`` (``Deny`` with conditions); :func:`policy_document` joins them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from gtlabel.errors import ConfigError
from gtlabel.iam.resources import ProjectResources

Role = Literal["execution-role", "data-scientist"]
Part = Literal["all", "grants", "guardrails"]
ROLES: tuple[Role, ...] = ("execution-role", "data-scientist")
Statement = dict[str, Any]
PolicyDoc = dict[str, Any]

#: The public (Mechanical Turk) workforce's workteam ARNs look like
#: ``arn:aws:sagemaker:<region>:394669845002:workteam/public-crowd/default`` (reference/ground-truth.md 2.3).
PUBLIC_WORKFORCE_ARN_PATTERN = "arn:*:sagemaker:*:*:workteam/public-crowd/*"


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


