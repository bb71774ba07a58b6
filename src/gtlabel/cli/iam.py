"""``gtlabel iam``: least-privilege policies and the project's CloudFormation template (gtlabel.iam)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, cast

import typer

from gtlabel import iam, storage
from gtlabel.cli._common import console, handle_errors
from gtlabel.errors import ConfigError

iam_app = typer.Typer(name="iam", help="IAM policies and the CloudFormation template for a project.",
                      no_args_is_help=True)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        console.out(text, end="", highlight=False)
        return

    storage.write_text(str(out), text)
    console.print(f"wrote {out}", highlight=False)


@iam_app.command("policy")
@handle_errors
def policy(
    role: Annotated[str, typer.Argument(help="execution-role (Ground Truth's RoleArn) or data-scientist")],
    bucket: Annotated[str, typer.Option("--bucket", help="The project's S3 bucket")],
    input_prefix: Annotated[list[str], typer.Option("--input-prefix", help="Input prefix (repeat for more)")],
    output_prefix: Annotated[str, typer.Option("--output-prefix", help="Output prefix")],
    kms_key: Annotated[str | None, typer.Option("--kms-key", help="KMS key ARN used for SSE-KMS and job output")] = None,
    topic: Annotated[str | None, typer.Option("--topic", help="Budget-alert SNS topic ARN")] = None,
    lambda_arn: Annotated[list[str] | None, typer.Option("--lambda", help="Custom Lambda ARN GT may invoke (repeat)")] = None,
    execution_role: Annotated[str | None, typer.Option("--execution-role", help="Execution role ARN the data scientist may pass")] = None,
    account: Annotated[str | None, typer.Option("--account", help="Account id, if not in the ARNs")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Region, if not in the ARNs")] = None,
    allow_workteam_management: Annotated[bool, typer.Option("--allow-workteam-management", help="Let the data scientist create/update/delete workteams")] = False,
    forbid_public_workforce: Annotated[bool, typer.Option("--forbid-public-workforce", help="Deny jobs on the public (Mechanical Turk) workforce")] = False,
    list_whole_bucket: Annotated[bool, typer.Option("--list-whole-bucket", help="data-scientist: ListBucket on the whole (dedicated) bucket, so missing objects read as 404 not 403")] = False,
    part: Annotated[str, typer.Option("--part", help="all, grants (Allow statements) or guardrails (conditional Denys)")] = "all",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout")] = None,
) -> None:
    """Print a least-privilege identity policy (JSON) for ROLE, scoped to the given resources."""
    if role not in iam.ROLES:
        raise ConfigError(f"ROLE: expected one of {', '.join(iam.ROLES)}; got {role!r}")
    res = iam.project_resources(
        bucket=bucket, input_prefixes=input_prefix, output_prefix=output_prefix, kms_key_arn=kms_key,
        topic_arn=topic, lambda_arns=lambda_arn or [], execution_role_arn=execution_role, account_id=account,
        region=region, allow_workteam_management=allow_workteam_management,
        forbid_public_workforce=forbid_public_workforce, list_whole_bucket=list_whole_bucket,
    )
    doc = iam.policy_document(role, res, cast(iam.Part, part))
    _emit(json.dumps(doc, indent=2, allow_nan=False) + "\n", out)


@iam_app.command("trust-policy")
@handle_errors
def trust_policy(
    account: Annotated[str, typer.Option("--account", help="The account whose labeling jobs may use the role")],
) -> None:
    """Print the execution role's trust policy (sagemaker.amazonaws.com, this account only)."""
    console.out(json.dumps(iam.execution_role_trust_policy(account), indent=2, allow_nan=False), highlight=False)


@iam_app.command("template")
@handle_errors
def template(
    fmt: Annotated[str, typer.Option("--format", help="yaml or json")] = "yaml",
    input_prefix: Annotated[str, typer.Option("--input-prefix", help="Default of the InputPrefix parameter")] = "gtlabel/input",
    output_prefix: Annotated[str, typer.Option("--output-prefix", help="Default of the OutputPrefix parameter")] = "gtlabel/output",
    lambda_arn: Annotated[list[str] | None, typer.Option("--lambda", help="Custom Lambda ARN GT may invoke (repeat)")] = None,
    allow_workteam_management: Annotated[bool, typer.Option("--allow-workteam-management")] = False,
    allow_public_workforce: Annotated[bool, typer.Option("--allow-public-workforce", help="Do not deny the public workforce (denied by default)")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout")] = None,
) -> None:
    """Print the CloudFormation template: KMS key, data bucket, budget topic, the two roles."""
    tpl = iam.cloudformation_template(
        input_prefix=input_prefix, output_prefix=output_prefix, lambda_arns=lambda_arn or [],
        allow_workteam_management=allow_workteam_management, forbid_public_workforce=not allow_public_workforce,
    )
    _emit(iam.dump_template(tpl, cast(Literal["yaml", "json"], fmt)), out)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(iam_app, name="iam")
