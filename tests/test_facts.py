"""Facts through one typed accessor: every packaged file parses, an override folder replaces files by name, and a
broken facts file is a ConfigError naming the file and the key (nothing falls back to a number in code)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gtlabel import facts
from gtlabel.errors import ConfigError
from gtlabel.manifests import check_line_limits
from gtlabel.monitor.stall import job_lifetime_days


@pytest.fixture()
def facts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GTLABEL_FACTS_DIR", str(tmp_path))
    return tmp_path


def _write(folder: Path, name: str, data: Any) -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    facts.clear_cache()  # the test rewrites within one clock tick
    return path


def test_packaged_facts_parse_into_typed_views(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GTLABEL_FACTS_DIR", raising=False)
    lim, pr, rg = facts.limits(), facts.prices(), facts.regions()
    assert (lim.workers_max, lim.task_time_max, lim.availability_max_public, lim.job_lifetime_days) == (
        9, 28800, 43200, 30)
    assert lim.job_lifetime_seconds == 30 * 24 * 3600
    assert lim.image_suffixes == (".jpg", ".jpeg", ".png") and lim.manifest_max_line_chars == 100_000
    assert pr.tiers[0] == facts.PriceTier(50000, Decimal("0.08")) and pr.tiers[-1].up_to_objects is None
    assert Decimal("0.036") in pr.task_prices["BoundingBox"]
    assert len(rg.lambda_accounts) == 12 and rg.task_functions["BoundingBox"] == ("PRE-BoundingBox",
                                                                                  "ACS-BoundingBox")
    assert facts.pre_lambda_arn("us-east-1", "BoundingBox") == \
        "arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox"
    for name in facts.FILES:
        data = facts.load(name)
        assert data["source"] and data["retrieved"]


def test_an_override_folder_replaces_files_by_name(facts_dir: Path) -> None:
    data = facts.load(facts.LIMITS_FILE)
    data["manifest"]["max_line_chars"] = 10
    _write(facts_dir, facts.LIMITS_FILE, data)
    assert facts.limits().manifest_max_line_chars == 10
    assert facts.price_tiers()[0].price_usd == Decimal("0.08")  # the prices file is still the packaged one
    with pytest.raises(Exception, match="Ground Truth allows 10"):
        check_line_limits(b'{"source-ref": "s3://b/k.jpg"}', {"source-ref": "s3://b/k.jpg"}, file="m", lineno=1)


def test_load_hands_out_a_copy(facts_dir: Path) -> None:
    facts.load(facts.LIMITS_FILE)["workers_per_object"]["max"] = 99
    assert facts.load(facts.LIMITS_FILE)["workers_per_object"]["max"] == 9


@pytest.mark.parametrize(("name", "change", "message"), [
    (facts.LIMITS_FILE, lambda d: d["workers_per_object"].pop("max"), r"missing key 'workers_per_object\.max'"),
    (facts.LIMITS_FILE, lambda d: d["manifest"].update(max_line_chars="lots"),
     r"key 'manifest\.max_line_chars': expected an integer, got 'lots'"),
    (facts.LIMITS_FILE, lambda d: d["images"].update(suffixes=".jpg"), r"key 'images\.suffixes': expected a list"),
    (facts.PRICES_FILE, lambda d: d["per_object_tiers"]["tiers"][1].update(price_usd="cheap"),
     r"key 'per_object_tiers\.tiers\[1\]\.price_usd': expected a price"),
    (facts.PRICES_FILE, lambda d: d["public_task_prices_usd"].pop("image_text_custom"),
     r"missing key 'public_task_prices_usd\.image_text_custom'"),
    (facts.REGIONS_FILE, lambda d: d["lambda_accounts"].update({"us-east-1": "4324"}),
     r"key 'lambda_accounts\.us-east-1': expected a 12-digit account id"),
    (facts.REGIONS_FILE, lambda d: d.update(lambda_arn_template="arn:{nope}"),
     r"key 'lambda_arn_template': expected a template"),
    (facts.REGIONS_FILE, lambda d: d.pop("source"), r"'source' and 'retrieved'"),
])
def test_a_broken_facts_file_names_the_file_and_key(facts_dir: Path, name: str, change: Any, message: str) -> None:
    data = facts.load(name)
    change(data)
    path = _write(facts_dir, name, data)
    view = {facts.LIMITS_FILE: facts.limits, facts.PRICES_FILE: facts.prices, facts.REGIONS_FILE: facts.regions}
    with pytest.raises(ConfigError, match=message) as ei:
        view[name]()
    assert str(ei.value).startswith(str(path))


def test_not_json_names_the_file(facts_dir: Path) -> None:
    path = _write(facts_dir, facts.PRICES_FILE, "{not json")
    with pytest.raises(ConfigError, match="not valid JSON") as ei:
        facts.price_tiers()
    assert str(path) in str(ei.value)


def test_a_facts_dir_file_that_cannot_be_read_is_an_error(facts_dir: Path) -> None:
    (facts_dir / facts.LIMITS_FILE).mkdir()  # a folder where the file should be
    with pytest.raises(ConfigError, match=facts.LIMITS_FILE):
        facts.limits()


def test_callers_see_the_broken_file_instead_of_a_default(facts_dir: Path) -> None:
    """The stall diagnosis and the manifest builder used to fall back to numbers in code; now they say why."""
    data = facts.load(facts.LIMITS_FILE)
    del data["job_lifetime_days"]
    _write(facts_dir, facts.LIMITS_FILE, data)
    with pytest.raises(ConfigError, match="job_lifetime_days"):
        job_lifetime_days()


def test_a_changed_file_is_read_again(facts_dir: Path) -> None:
    data = facts.load(facts.LIMITS_FILE)
    data["tags_max"] = 7
    path = _write(facts_dir, facts.LIMITS_FILE, data)
    assert facts.limits().tags_max == 7
    data["tags_max"] = 1234  # a different size, so a different stamp even within one clock tick
    path.write_text(json.dumps(data))
    assert facts.limits().tags_max == 1234
