"""One Settings object: precedence, the one refresh rule, clear errors, and a README that lists every variable."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gtlabel import facts
from gtlabel.errors import ConfigError
from gtlabel.jobs.build import resolve_region, resolve_role
from gtlabel.model.offline import default_cache_dir
from gtlabel.settings import Settings, get_settings, variables

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in variables():
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    s = get_settings()
    assert (s.max_concurrency, s.progress, s.multipart_threshold_mb, s.convert_processes) == (32, True, 64, 0)
    assert (s.iou_threshold, s.quorum, s.role_arn, s.region, s.facts_dir, s.cache_dir) == (0.5, None, None, None,
                                                                                          None, None)


def test_a_changed_variable_is_seen_by_the_next_call(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    assert get_settings() is first  # cached while nothing changes
    monkeypatch.setenv("GTLABEL_MAX_CONCURRENCY", "7")
    assert get_settings().max_concurrency == 7
    monkeypatch.setenv("GTLABEL_MAX_CONCURRENCY", "9")
    assert get_settings().max_concurrency == 9
    monkeypatch.delenv("GTLABEL_MAX_CONCURRENCY")
    assert get_settings().max_concurrency == 32
    monkeypatch.setenv("GTLABEL_PROGRESS", "")  # empty counts as unset
    assert get_settings().progress is True
    monkeypatch.setenv("GTLABEL_PROGRESS", "0")
    assert get_settings().progress is False


def test_every_former_ad_hoc_variable_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {"GTLABEL_QUORUM": "2", "GTLABEL_IOU_THRESHOLD": "0.7", "GTLABEL_CACHE_DIR": str(tmp_path / "c"),
           "GTLABEL_ROLE_ARN": "arn:aws:iam::123456789012:role/x", "GTLABEL_REGION": "eu-west-1",
           "GTLABEL_FACTS_DIR": str(tmp_path), "GTLABEL_WORKTEAM_ARN": "arn:t", "GTLABEL_WORKER_PASSWORD": "pw"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = get_settings()
    assert (s.quorum, s.iou_threshold, s.cache_dir, s.role_arn, s.region, s.facts_dir, s.workteam_arn) == (
        2, 0.7, tmp_path / "c", env["GTLABEL_ROLE_ARN"], "eu-west-1", tmp_path, "arn:t")
    assert s.worker_password is not None and s.worker_password.get_secret_value() == "pw"
    assert "pw" not in repr(s)  # a secret is not printed
    # and the readers use it
    assert default_cache_dir() == tmp_path / "c"
    assert resolve_region() == "eu-west-1" and resolve_role() == env["GTLABEL_ROLE_ARN"]


def test_precedence_argument_over_variable_over_default(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="GTLABEL_ROLE_ARN"):
        resolve_role()
    monkeypatch.setenv("GTLABEL_ROLE_ARN", "arn:aws:iam::123456789012:role/env")
    assert resolve_role() == "arn:aws:iam::123456789012:role/env"
    assert resolve_role("arn:aws:iam::123456789012:role/arg") == "arn:aws:iam::123456789012:role/arg"
    monkeypatch.setenv("GTLABEL_MAX_CONCURRENCY", "5")
    assert Settings(max_concurrency=3).max_concurrency == 3  # an injected value wins over the environment
    assert Settings().max_concurrency == 5


def test_settings_are_one_immutable_object() -> None:
    s = get_settings()
    with pytest.raises(ValueError, match="frozen"):
        s.max_concurrency = 1  # type: ignore[misc]


@pytest.mark.parametrize(("name", "value"), [("GTLABEL_QUORUM", "abc"), ("GTLABEL_MAX_CONCURRENCY", "0"),
                                             ("GTLABEL_IOU_THRESHOLD", "2"), ("GTLABEL_PROGRESS", "maybe")])
def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"{name}={value!r}"):
        get_settings()
    monkeypatch.delenv(name)
    assert get_settings() is not None  # fixed: the next call reads the environment again


def test_facts_follow_the_facts_dir_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = facts.load(facts.LIMITS_FILE)
    data["workers_per_object"]["max"] = 3
    (tmp_path / facts.LIMITS_FILE).write_text(json.dumps(data))
    assert facts.limits().workers_max == 9
    monkeypatch.setenv("GTLABEL_FACTS_DIR", str(tmp_path))
    assert facts.limits().workers_max == 3  # no cache to clear
    monkeypatch.delenv("GTLABEL_FACTS_DIR")
    assert facts.limits().workers_max == 9


def test_readme_lists_every_variable() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Configuration"):]
    section = section[:section.index("\n## ", 1)]
    listed = set(re.findall(r"`(GTLABEL_[A-Z_]+)`", section))
    assert listed == set(variables())
