"""The CloudFormation template that creates the project's bucket, key, topic and both roles, with the
policies of :mod:`gtlabel.iam.policies` (``${...}`` placeholders in ``Fn::Sub``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import yaml

from gtlabel.errors import ConfigError
from gtlabel.iam.policies import execution_role_trust_policy, policy_document
from gtlabel.iam.resources import clean_prefix, placeholder_resources


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
    res = placeholder_resources(input_prefix, output_prefix, lambda_arns, allow_workteam_management,
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
            "InputPrefix": {**prefix_param, "Default": clean_prefix(input_prefix, "--input-prefix"),
                            "Description": "Prefix of manifests, images, label config and worker template"},
            "OutputPrefix": {**prefix_param, "Default": clean_prefix(output_prefix, "--output-prefix"),
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
        return json.dumps(template, indent=2, allow_nan=False) + "\n"
    if fmt == "yaml":
        return str(yaml.safe_dump(dict(template), sort_keys=False, default_flow_style=False, width=120))
    raise ConfigError(f"--format: expected yaml or json; got {fmt!r}")
