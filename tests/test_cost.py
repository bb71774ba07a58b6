"""Cost estimate math, the budget guard, budget tags and cost so far (pure)."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from gtlabel import cost, facts
from gtlabel.errors import BudgetExceeded, ConfigError
from gtlabel.facts import PriceTier

D = Decimal


def test_private_is_gt_fee_only() -> None:
    e = cost.estimate(1000, workers_per_object=5, workforce="private")
    assert e.total_usd == D("80.00") and e.labeler_usd == 0 and e.ground_truth_usd == D("80.00")


def test_public_matches_the_aws_tutorial_formula() -> None:
    # AWS tutorial: each human label costs $0.08 + 5 * $0.036 = $0.26
    e = cost.estimate(1, workers_per_object=5, workforce="public", task_price="0.036")
    assert e.total_usd == D("0.26")
    e = cost.estimate(1000, 3, "public", 0.036)
    assert e.ground_truth_usd == D("80.00") and e.labeler_usd == D("108.000") and e.total_usd == D("188.000")
    assert e.per_object_usd == D("0.188")


def test_tiers_across_boundaries() -> None:
    e = cost.estimate(1_100_000)
    # 50,000 x 0.08 + 950,000 x 0.04 + 100,000 x 0.02
    assert e.ground_truth_usd == D("4000") + D("38000") + D("2000")
    assert [ln.quantity for ln in e.lines if ln.item.startswith("Ground Truth")] == [50_000, 950_000, 100_000]
    assert any("UNCONFIRMED" in n for n in e.notes)
    assert not cost.estimate(10).notes  # within the first tier: nothing unconfirmed used
    # objects already labeled this month move the job into later tiers
    assert cost.estimate(10, objects_before=50_000).ground_truth_usd == D("0.40")
    assert cost.ground_truth_fee(3, objects_before=49_999) == D("0.08") + D("0.04") * 2


def test_custom_tiers_override_the_data_file() -> None:
    tiers = [PriceTier(10, D("1")), PriceTier(None, D("0.5"))]
    assert cost.estimate(20, tiers=tiers).ground_truth_usd == D("15")
    with pytest.raises(ConfigError, match="open tier"):
        cost.estimate(20, tiers=[PriceTier(10, D("1"))])


def test_free_tier_deducts_gt_fee_only() -> None:
    e = cost.estimate(600, 2, "public", "0.036", free_tier=True)
    assert e.free_tier_usd == -D("40.00")  # 500 x 0.08
    assert e.labeler_usd == D("43.200")  # MTurk fees are not covered
    assert e.total_usd == D("48.00") + D("43.200") - D("40.00")
    assert cost.estimate(100, free_tier=True).total_usd == 0
    assert cost.estimate(100, free_tier=True, objects_before=450).free_tier_usd == -D("4.00")


def test_vendor_price_known_or_noted() -> None:
    assert cost.estimate(10, 2, "vendor", "0.10").labeler_usd == D("2.00")
    e = cost.estimate(10, 2, "vendor")
    assert e.labeler_usd == 0 and any("vendor price unknown" in n for n in e.notes)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match=r"1\.\.9"):
        cost.estimate(10, 10)
    with pytest.raises(ConfigError, match="workforce"):
        cost.estimate(10, 1, "crowd")
    with pytest.raises(ConfigError, match="task price"):
        cost.estimate(10, 1, "public")
    with pytest.raises(ConfigError, match="objects"):
        cost.estimate(-1)
    with pytest.raises(ConfigError, match="finite"):
        cost.estimate(10, 1, "public", "nan")


def test_budget_guard() -> None:
    e = cost.estimate(1000, 3, "public", "0.036")
    assert cost.check_budget(e, 200).over_budget is False
    with pytest.raises(BudgetExceeded) as ei:
        cost.check_budget(e, 100)
    assert "$188.00" in str(ei.value) and "$100.00" in str(ei.value)
    assert "Mechanical Turk" in str(ei.value)  # the breakdown is in the message
    assert isinstance(ei.value.estimate, cost.CostEstimate) and ei.value.estimate.max_budget_usd == D("100")
    cost.check_budget(cost.estimate(1000, max_budget_usd=80))  # exactly at the budget is allowed


def test_renders_as_text_table_and_json() -> None:
    e = cost.estimate(1000, 3, "public", "0.036", free_tier=True, max_budget_usd=100)
    text = str(e)
    assert "total: $148.00" in text and "OVER BUDGET" in text and "-$40.00" in text
    buf = io.StringIO()
    Console(file=buf, width=200).print(e.table())
    rendered = buf.getvalue()
    assert "$148.00" in rendered and "Mechanical Turk" in rendered and "OVER BUDGET" in rendered
    d = json.loads(json.dumps(e.to_dict()))
    assert d["total_usd"] == 148.0 and d["lines"][0]["quantity"] == 1000


def test_budget_tags_round_trip_through_cost_so_far() -> None:
    e = cost.estimate(200, 2, "vendor", "0.05", max_budget_usd=50)
    tags = cost.budget_tags(e)
    assert {t["Key"]: t["Value"] for t in tags} == {
        "gtlabel:max-budget-usd": "50", "gtlabel:estimate-usd": "36", "gtlabel:workers-per-object": "2",
        "gtlabel:task-price-usd": "0.05", "gtlabel:workforce": "vendor", "gtlabel:objects": "200",
        "gtlabel:free-tier": "false"}
    describe = {
        "LabelingJobName": "j", "LabelingJobStatus": "InProgress",
        "LabelCounters": {"TotalLabeled": 100, "HumanLabeled": 100, "MachineLabeled": 0,
                          "FailedNonRetryableError": 0, "Unlabeled": 100},
        "HumanTaskConfig": {"WorkteamArn": "arn:aws:sagemaker:us-east-1:123456789012:workteam/vendor-crowd/acme",
                            "NumberOfHumanWorkersPerDataObject": 2},
        "Tags": tags,
    }
    c = cost.cost_so_far(describe)
    assert c.workforce == "vendor" and c.task_price_usd == D("0.05")
    assert c.total_usd == D("8.00") + D("10.00") and c.max_budget_usd == D("50")
    assert c.projected_total_usd == e.total_usd  # the whole job priced like the estimate
    assert c.budget_used == pytest.approx(18 / 50) and not c.over_budget and not c.projected_over_budget
    # the float views the monitor reads
    assert c.budget_usd == 50.0 and c.workforce_fee_usd == 10.0 and c.gt_fee_usd == 8.0
    assert "100/200 labeled" in str(c)


def test_cost_so_far_public_from_the_job_config() -> None:
    describe: dict[str, Any] = {
        "LabelingJobName": "p", "LabelingJobStatus": "Completed",
        "LabelCounters": {"TotalLabeled": 10, "HumanLabeled": 8, "MachineLabeled": 2, "FailedNonRetryableError": 1},
        "HumanTaskConfig": {"WorkteamArn": "arn:aws:sagemaker:us-east-1:394669845002:workteam/public-crowd/default",
                            "NumberOfHumanWorkersPerDataObject": 3,
                            "PublicWorkforceTaskPrice": {"AmountInUsd": {"Dollars": 0, "Cents": 4,
                                                                         "TenthFractionsOfACent": 8}}},
        "Tags": [{"Key": "gtlabel:max-budget-usd", "Value": "1"}],
    }
    c = cost.cost_so_far(describe)
    # GT fee on all 10 labeled (human + machine); workers paid for the 8 human-labeled only
    assert c.ground_truth_usd == D("0.80") and c.labeler_usd == D("0.048") * 8 * 3
    assert c.over_budget and c.total_objects == 11 and c.failed == 1
    assert cost.cost_so_far({"LabelCounters": {}}).total_usd == 0  # a brand-new job
    private = cost.cost_so_far({"LabelCounters": {"TotalLabeled": 5, "HumanLabeled": 5},
                                "HumanTaskConfig": {"WorkteamArn": "arn:aws:sagemaker:us-east-1:123456789012:"
                                                                   "workteam/private-crowd/t",
                                                    "NumberOfHumanWorkersPerDataObject": 2}})
    assert private.total_usd == D("0.40") and private.labeler_usd == 0 and private.budget_used is None


@given(st.integers(0, 2_000_000), st.integers(1, 9), st.sampled_from(["0.036", "0.12", "1.2"]), st.booleans())
def test_estimate_is_the_sum_of_its_lines(objects: int, workers: int, price: str, free: bool) -> None:
    e = cost.estimate(objects, workers, "public", price, free_tier=free)
    assert e.total_usd == sum((ln.amount_usd for ln in e.lines), D(0))
    assert e.total_usd >= D(price) * objects * workers  # never below the labeler fee
    assert all(ln.quantity * ln.unit_usd == ln.amount_usd for ln in e.lines if ln.quantity)


def test_facts_files_carry_source_and_date_and_can_be_overridden(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (facts.REGIONS_FILE, facts.PRICES_FILE, facts.LIMITS_FILE):
        data = facts.load(name)
        assert data["source"] and (data.get("retrieved") or data.get("date"))
    assert facts.load(facts.PRICES_FILE)["per_object_tiers"]["unconfirmed"] is True
    override = facts.load(facts.PRICES_FILE) | {
        "per_object_tiers": {"unconfirmed": True, "tiers": [{"up_to_objects": None, "price_usd": "0.10"}]}}
    (tmp_path / facts.PRICES_FILE).write_text(json.dumps(override))
    monkeypatch.setenv("GTLABEL_FACTS_DIR", str(tmp_path))
    facts.clear_cache()
    try:
        assert cost.estimate(10).total_usd == D("1.00")
        (tmp_path / facts.PRICES_FILE).write_text('{"tiers": []}')
        facts.clear_cache()
        with pytest.raises(ConfigError, match="source"):
            cost.estimate(10)
    finally:
        monkeypatch.delenv("GTLABEL_FACTS_DIR")
        facts.clear_cache()
    assert cost.estimate(10).total_usd == D("0.80")
