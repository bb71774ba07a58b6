"""gtlabel.iam: policy content (least privilege), parliament and cfn-lint findings, the template, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from gtlabel import iam
from gtlabel.cli import app
from gtlabel.errors import ConfigError

ACCOUNT = "123456789012"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:gtlabel-budget"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/gt-exec"
LAMBDAS = [f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:gt-pre", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:gt-post"]

#: parliament findings that remain, each with the reason (also in docs/SECURITY.md, "Linters").
ACCEPTED_PARLIAMENT = {
    # iam:PassRole is a permissions-management action by nature; it is scoped to the one execution role and
    # to iam:PassedToService = sagemaker.amazonaws.com, which is the least a labeling-job creator can hold.
    ("data-scientist", "PERMISSIONS_MANAGEMENT_ACTIONS"),
}


def _res(**kw: Any) -> iam.ProjectResources:
    args: dict[str, Any] = {"bucket": "drone-data", "input_prefixes": ["proj/in", "/proj/images/"],
                            "output_prefix": "proj/out/", "kms_key_arn": KEY, "topic_arn": TOPIC,
                            "lambda_arns": LAMBDAS, "execution_role_arn": ROLE}
    args.update(kw)
    return iam.project_resources(**args)


def _statements(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in doc["Statement"]}


def _actions(st: dict[str, Any]) -> list[str]:
    a = st["Action"]
    return [a] if isinstance(a, str) else list(a)


# ------------------------------------------------------------------------------------------------ content
def test_execution_role_is_least_privilege() -> None:
    res = _res()
    assert res.input_prefixes == ("proj/in", "proj/images") and res.output_prefix == "proj/out"
    assert (res.account_id, res.region, res.partition) == (ACCOUNT, "us-east-1", "aws")
    st = _statements(iam.policy_document("execution-role", res))
    assert st["ReadInputs"]["Action"] == "s3:GetObject"
    assert st["ReadInputs"]["Resource"] == ["arn:aws:s3:::drone-data/proj/in/*", "arn:aws:s3:::drone-data/proj/images/*"]
    assert st["ListProjectPrefixes"]["Condition"] == {"StringLike": {"s3:prefix": [
        "proj/in", "proj/in/*", "proj/images", "proj/images/*", "proj/out", "proj/out/*"]}}
    assert st["WriteOutputs"]["Resource"] == "arn:aws:s3:::drone-data/proj/out/*"
    assert set(_actions(st["WriteOutputs"])) == {"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"}
    assert st["UseProjectKey"]["Resource"] == KEY
    assert set(_actions(st["UseProjectKey"])) == {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}
    assert st["InvokeCustomLambdas"]["Resource"] == LAMBDAS
    assert st["WriteLabelingJobLogs"]["Resource"][0] == \
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/LabelingJobs"
    every = [a for s in st.values() if s["Effect"] == "Allow" for a in _actions(s)]
    assert not any(a.endswith("*") or "Delete" in a or a.startswith(("iam:", "sns:", "sagemaker:")) for a in every)
    assert all(s["Resource"] != "*" for s in st.values())
    # no Lambda statement at all when there are no custom Lambdas
    assert "InvokeCustomLambdas" not in _statements(iam.policy_document("execution-role", _res(lambda_arns=[])))
    # guardrails: TLS only, SSE-KMS with this key on its uploads
    g = _statements(iam.policy_document("execution-role", res, "guardrails"))
    assert set(g) == {"DenyInsecureTransport", "DenyUploadsWithoutSseKms", "DenyUploadsWithOtherKmsKey"}
    assert all(s["Effect"] == "Deny" for s in g.values())
    assert g["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert g["DenyUploadsWithOtherKmsKey"]["Condition"] == {
        "ArnNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": KEY}}


def test_trust_policy_is_sagemaker_for_this_account_only() -> None:
    t = iam.execution_role_trust_policy(ACCOUNT)["Statement"][0]
    assert t["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert t["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_data_scientist_is_least_privilege() -> None:
    res = _res(forbid_public_workforce=True)
    st = _statements(iam.policy_document("data-scientist", res))
    jobs = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:labeling-job/*"
    assert st["ManageLabelingJobs"]["Resource"] == jobs
    assert set(_actions(st["ManageLabelingJobs"])) == {
        "sagemaker:CreateLabelingJob", "sagemaker:DescribeLabelingJob", "sagemaker:StopLabelingJob"}
    assert st["PassExecutionRoleToSageMakerOnly"]["Resource"] == ROLE
    assert st["PassExecutionRoleToSageMakerOnly"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert st["PublishBudgetAlerts"] == {"Sid": "PublishBudgetAlerts", "Effect": "Allow", "Action": "sns:Publish",
                                         "Resource": TOPIC}
    assert "sagemaker:RenderUiTemplate" in _actions(st["ListJobsWorkteamsRenderTemplates"])
    assert set(_actions(st["ReadWorkteams"])) == {"sagemaker:DescribeWorkteam", "sagemaker:ListLabelingJobsForWorkteam"}
    assert "ManageWorkteams" not in st
    # only list/render operations (no resource type in IAM) get "*"
    star = [a for s in st.values() if s["Effect"] == "Allow" and s["Resource"] == "*" for a in _actions(s)]
    assert sorted(star) == ["sagemaker:ListLabelingJobs", "sagemaker:ListWorkteams", "sagemaker:RenderUiTemplate"]
    every = [a for s in st.values() if s["Effect"] == "Allow" for a in _actions(s)]
    assert not any("Delete" in a or a.endswith("*") for a in every)
    deny = st["DenyPublicWorkforce"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "sagemaker:CreateLabelingJob"
    assert deny["Condition"] == {"ArnLike": {"sagemaker:WorkteamArn": "arn:*:sagemaker:*:*:workteam/public-crowd/*"}}
    assert st["DenyLabelingJobsWithoutProjectKey"]["Condition"] == {"ArnNotEquals": {"sagemaker:OutputKmsKey": KEY}}
    assert st["DenyUploadsWithoutSseKms"]["Resource"] == [
        "arn:aws:s3:::drone-data/proj/in/*", "arn:aws:s3:::drone-data/proj/images/*", "arn:aws:s3:::drone-data/proj/out/*"]
    # options
    opt = _statements(iam.policy_document("data-scientist", _res(allow_workteam_management=True)))
    assert set(_actions(opt["ManageWorkteams"])) == {
        "sagemaker:CreateWorkteam", "sagemaker:UpdateWorkteam", "sagemaker:DeleteWorkteam"}
    assert "DenyPublicWorkforce" not in opt
    assert st["ListProjectPrefixes"]["Condition"]["StringLike"]["s3:prefix"][:2] == ["proj/in", "proj/in/*"]
    whole = _statements(iam.policy_document("data-scientist", _res(list_whole_bucket=True)))
    assert "ListProjectPrefixes" not in whole
    assert whole["ListProjectBucket"] == {"Sid": "ListProjectBucket", "Effect": "Allow", "Action": "s3:ListBucket",
                                          "Resource": "arn:aws:s3:::drone-data"}
    bare = _statements(iam.policy_document("data-scientist", _res(kms_key_arn=None, topic_arn=None)))
    assert not {"UseProjectKey", "PublishBudgetAlerts", "DenyUploadsWithoutSseKms"} & set(bare)
    # parts: grants + guardrails == all
    parts = [iam.policy_document("data-scientist", res, p)["Statement"] for p in ("grants", "guardrails")]
    assert parts[0] + parts[1] == iam.policy_document("data-scientist", res)["Statement"]
    assert all(s["Effect"] == "Allow" for s in parts[0]) and all(s["Effect"] == "Deny" for s in parts[1])


@pytest.mark.parametrize(("kw", "message"), [
    ({"bucket": "Bad_Bucket"}, "--bucket"),
    ({"input_prefixes": []}, "--input-prefix: at least one"),
    ({"input_prefixes": ["/"]}, "bucket-wide grant"),
    ({"output_prefix": "out/*"}, "wildcards"),
    ({"kms_key_arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/data"}, "not an alias"),
    ({"kms_key_arn": "1234abcd"}, "--kms-key: expected a KMS key ARN"),
    ({"topic_arn": "budget"}, "--topic"),
    ({"lambda_arns": ["gt-post"]}, "--lambda"),
    ({"execution_role_arn": "gt-exec"}, "--execution-role"),
    ({"kms_key_arn": None, "topic_arn": None, "lambda_arns": [], "execution_role_arn": None}, "--account"),
    ({"topic_arn": TOPIC.replace("us-east-1", "eu-west-1")}, "--region"),
])
def test_bad_input_is_a_clear_error(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("*", r"\*")):
        _res(**kw)


def test_data_scientist_needs_the_execution_role() -> None:
    with pytest.raises(ConfigError, match="--execution-role"):
        iam.policy_document("data-scientist", _res(execution_role_arn=None))


# ------------------------------------------------------------------------------------------------ linters
@pytest.mark.parametrize("role", iam.ROLES)
def test_parliament_has_no_unexplained_findings(role: str, parliament_analyze: Any) -> None:
    for kw in ({}, {"forbid_public_workforce": True, "allow_workteam_management": True}):
        doc = iam.policy_document(role, _res(**kw))  # type: ignore[arg-type]
        policy = parliament_analyze(json.dumps(doc), include_community_auditors=True)
        found = {(role, f.issue) for f in policy.findings}
        assert found <= ACCEPTED_PARLIAMENT, [(f.issue, f.detail, f.location) for f in policy.findings]
    assert iam.execution_role_trust_policy(ACCOUNT)  # trust policies are not identity policies: not linted


def test_parliament_catches_a_broken_policy(parliament_analyze: Any) -> None:
    """The linter really runs: a typo'd action and a wrong-typed condition are reported."""
    bad = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::b/*"},
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*",
         "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": KEY}}}]}
    issues = {f.issue for f in parliament_analyze(json.dumps(bad)).findings}
    assert {"UNKNOWN_ACTION", "MISMATCHED_TYPE_BUT_USABLE"} <= issues


def _cfn_lint(text: str) -> list[Any]:
    import cfnlint.api

    return list(cfnlint.api.lint(text, regions=["us-east-1", "eu-west-1"]))


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_template_passes_cfn_lint(fmt: str) -> None:
    tpl = iam.cloudformation_template(lambda_arns=LAMBDAS, allow_workteam_management=True)
    matches = _cfn_lint(iam.dump_template(tpl, fmt))  # type: ignore[arg-type]
    assert matches == [], [str(m) for m in matches]


def test_cfn_lint_catches_a_broken_template() -> None:
    tpl = iam.cloudformation_template()
    tpl["Resources"]["DataBucket"]["Properties"]["VersioningConfiguration"] = {"Status": "Sometimes"}
    assert _cfn_lint(iam.dump_template(tpl))


def test_template_policies_pass_parliament(parliament_analyze: Any) -> None:
    """The role policies inside the template, with placeholders filled as CloudFormation would."""
    tpl = iam.cloudformation_template(lambda_arns=LAMBDAS)

    def fill(v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"Fn::Sub"}:
            return (v["Fn::Sub"].replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", ACCOUNT)
                    .replace("${AWS::Region}", "us-east-1").replace("${DataBucket}", "drone-data")
                    .replace("${InputPrefix}", "gtlabel/input").replace("${OutputPrefix}", "gtlabel/output")
                    .replace("${DataKey.Arn}", KEY).replace("${BudgetTopic}", TOPIC)
                    .replace("${GroundTruthExecutionRole.Arn}", ROLE))
        if isinstance(v, dict):
            return {k: fill(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fill(x) for x in v]
        return v

    for name, role in (("GroundTruthExecutionRole", "execution-role"), ("DataScientistRole", "data-scientist")):
        for pol in tpl["Resources"][name]["Properties"]["Policies"]:
            doc = fill(pol["PolicyDocument"])
            assert "${" not in json.dumps(doc)
            found = {(role, f.issue) for f in parliament_analyze(json.dumps(doc)).findings}
            assert found <= ACCEPTED_PARLIAMENT, found


def test_template_resources() -> None:
    tpl = iam.cloudformation_template()
    r = tpl["Resources"]
    bucket = r["DataBucket"]["Properties"]
    assert bucket["CorsConfiguration"]["CorsRules"] == [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"],
                                                         "AllowedHeaders": [],
                                                         "ExposedHeaders": ["Access-Control-Allow-Origin"]}]
    enc = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert enc["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms",
                                                    "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]}}
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    bp = {s["Sid"]: s for s in r["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]}
    assert bp["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert bp["DenyInsecureTransport"]["Principal"] == "*"
    assert bp["DenyUploadsWithoutSseKms"]["Condition"] == {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}
    assert r["DataKey"]["Properties"]["EnableKeyRotation"] is True
    assert r["BudgetTopic"]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    ds = {p["PolicyName"]: p["PolicyDocument"] for p in r["DataScientistRole"]["Properties"]["Policies"]}
    guards = {s["Sid"] for s in ds["gtlabel-data-scientist-guardrails"]["Statement"]}
    assert "DenyPublicWorkforce" in guards  # denied by default in the template
    grants = {s["Sid"]: s for s in ds["gtlabel-data-scientist-grants"]["Statement"]}
    assert "Condition" not in grants["ListProjectBucket"]  # the template's bucket is the project's own
    ex = {p["PolicyName"]: p["PolicyDocument"] for p in r["GroundTruthExecutionRole"]["Properties"]["Policies"]}
    ex_grants = {s["Sid"]: s for s in ex["gtlabel-execution-grants"]["Statement"]}
    assert ex_grants["ListProjectPrefixes"]["Condition"]["StringLike"]["s3:prefix"] == [
        {"Fn::Sub": "${InputPrefix}"}, {"Fn::Sub": "${InputPrefix}/*"},
        {"Fn::Sub": "${OutputPrefix}"}, {"Fn::Sub": "${OutputPrefix}/*"}]
    assert grants["PassExecutionRoleToSageMakerOnly"]["Resource"] == {"Fn::Sub": "${GroundTruthExecutionRole.Arn}"}
    assert set(tpl["Outputs"]) == {"BucketName", "KmsKeyArn", "BudgetTopicArn", "ExecutionRoleArn", "DataScientistRoleArn"}


# ------------------------------------------------------------------------------------------------ CLI
def _cli_args(role: str) -> list[str]:
    return ["iam", "policy", role, "--bucket", "drone-data", "--input-prefix", "proj/in", "--output-prefix",
            "proj/out", "--kms-key", KEY, "--topic", TOPIC, "--lambda", LAMBDAS[0], "--lambda", LAMBDAS[1],
            "--execution-role", ROLE]


def test_cli_policy(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, [*_cli_args("data-scientist"), "--forbid-public-workforce"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc == iam.policy_document("data-scientist", iam.project_resources(
        bucket="drone-data", input_prefixes=["proj/in"], output_prefix="proj/out", kms_key_arn=KEY, topic_arn=TOPIC,
        lambda_arns=LAMBDAS, execution_role_arn=ROLE, forbid_public_workforce=True))
    r = CliRunner().invoke(app, [*_cli_args("execution-role"), "--part", "grants", "--out", str(tmp_path / "p.json")])
    assert r.exit_code == 0, r.output
    grants = json.loads((tmp_path / "p.json").read_text())
    assert all(s["Effect"] == "Allow" for s in grants["Statement"])
    r = CliRunner().invoke(app, [*_cli_args("auditor")])
    assert r.exit_code == 3 and "execution-role, data-scientist" in r.output
    r = CliRunner().invoke(app, ["iam", "policy", "data-scientist", "--bucket", "drone-data", "--input-prefix", "in",
                                 "--output-prefix", "out", "--kms-key", KEY])
    assert r.exit_code == 3 and "--execution-role" in r.output
    r = CliRunner().invoke(app, ["iam", "trust-policy", "--account", ACCOUNT])
    assert json.loads(r.output) == iam.execution_role_trust_policy(ACCOUNT)


def test_cli_template(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["iam", "template", "--input-prefix", "drones/in", "--lambda", LAMBDAS[1]])
    assert r.exit_code == 0, r.output
    tpl = yaml.safe_load(r.output)
    assert tpl["Parameters"]["InputPrefix"]["Default"] == "drones/in"
    assert _cfn_lint(r.output) == []
    r = CliRunner().invoke(app, ["iam", "template", "--format", "json", "--allow-public-workforce",
                                 "--out", str(tmp_path / "t.json")])
    assert r.exit_code == 0, r.output
    tpl = json.loads((tmp_path / "t.json").read_text())
    guards = tpl["Resources"]["DataScientistRole"]["Properties"]["Policies"][1]["PolicyDocument"]["Statement"]
    assert "DenyPublicWorkforce" not in {s["Sid"] for s in guards}
    r = CliRunner().invoke(app, ["iam", "template", "--format", "toml"])
    assert r.exit_code == 3 and "--format" in r.output
