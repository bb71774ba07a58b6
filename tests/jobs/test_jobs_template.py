"""The worker template: placeholders filled, user text inert (no markup, no script, no Liquid), adjustment
``initial-value`` rendered by a real Liquid engine into JSON the element can read."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from gtlabel.errors import ConfigError
from gtlabel.jobs.template import (
    PLACEHOLDERS,
    Example,
    default_instructions,
    inert,
    load_template,
    render_worker_template,
)

liquid = pytest.importorskip("liquid")

EVIL = '<script>alert("x")</script> {{ 7 | plus: 35 }} {% endraw %}{{ task.input.taskObject }} "quoted" & done'


def _env() -> Any:
    env = liquid.Environment()
    env.filters["grant_read_access"] = lambda uri: "https://presigned.example/" + uri[5:]
    env.filters["to_json"] = json.dumps
    return env


def _render(template: str, **task_input: Any) -> str:
    task_input.setdefault("taskObject", "s3://b/img/0001.jpg")
    task_input.setdefault("labels", ["drone", "vehicle"])
    return str(_env().from_string(template).render(task={"input": task_input}))


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    p = _Tags()
    p.feed(page)
    return p.tags


def test_placeholders_filled_and_the_shipped_template_has_them() -> None:
    tpl = load_template()
    assert all(p in tpl for p in PLACEHOLDERS)
    out = render_worker_template(header="Box the drones", short_instructions="Be tight.")
    assert "__GTLABEL_" not in out
    assert 'name="boundingBox"' in out  # the built-in consolidation reads this key


def test_user_text_is_inert_after_liquid_rendering() -> None:
    out = render_worker_template(header=EVIL, short_instructions=EVIL, full_instructions=EVIL,
                                 examples=[Example("https://example.com/a.png", EVIL, "bad")], labels=[EVIL])
    page = _render(out)
    scripts = [a for t, a in _tags(page) if t == "script"]
    assert scripts == [{"src": "https://assets.crowd.aws/crowd-html-elements.js"}]  # only the template's own
    assert "42" not in page  # {{ 7 | plus: 35 }} was not evaluated
    # the text comes back exactly as typed when the browser decodes the entities
    assert html.unescape(page).count(EVIL) >= 4
    header = next(a for t, a in _tags(page) if t == "crowd-bounding-box")["header"]
    assert header == EVIL


def test_placeholder_names_in_user_text_are_not_substituted() -> None:
    out = render_worker_template(header="h", short_instructions="__GTLABEL_FULL_INSTRUCTIONS__ here")
    assert "__GTLABEL_FULL_INSTRUCTIONS__ here" in out


def test_inert_leaves_no_braces() -> None:
    s = inert("{% endraw %}{{x}}")
    inner = s.removeprefix("{% raw %}").removesuffix("{% endraw %}")
    assert "{" not in inner and "}" not in inner


def test_adjustment_initial_value_renders_json() -> None:
    out = render_worker_template(header="Fix boxes", task_type="AdjustmentBoundingBox",
                                 prior_label_attribute_name="bounding-box")
    line = {"source-ref": "s3://b/img/0001.jpg",
            "bounding-box": {"image_size": [{"width": 640, "height": 480, "depth": 3}],
                             "annotations": [{"class_id": 0, "left": 10, "top": 20, "width": 30, "height": 40},
                                             {"class_id": 1, "left": 50, "top": 60, "width": 70, "height": 80}]},
            "bounding-box-metadata": {"class-map": {"0": "drone", "1": 'odd "name"'}}}
    page = _render(out, manifestLine=line)
    value = next(a for t, a in _tags(page) if t == "crowd-bounding-box")["initial-value"]
    assert value is not None
    assert json.loads(value) == [{"label": "drone", "left": 10, "top": 20, "width": 30, "height": 40},
                                 {"label": 'odd "name"', "left": 50, "top": 60, "width": 70, "height": 80}]
    line["bounding-box"]["annotations"] = []  # type: ignore[index]
    empty = next(a for t, a in _tags(_render(out, manifestLine=line)) if t == "crowd-bounding-box")["initial-value"]
    assert json.loads(empty or "") == []


def test_plain_job_has_no_initial_value_and_variants_need_prior() -> None:
    assert "initial-value" not in render_worker_template(header="h")
    with pytest.raises(ConfigError, match="prior_label_attribute_name"):
        render_worker_template(header="h", task_type="VerificationBoundingBox")
    with pytest.raises(ConfigError, match="does not match"):
        render_worker_template(header="h", task_type="AdjustmentBoundingBox",
                               prior_label_attribute_name="x'] | evil")


def test_examples_in_full_instructions() -> None:
    out = render_worker_template(header="h", full_instructions="Box all.", examples=[
        Example("s3://my-bucket/examples/good.jpg", "tight box", "good"),
        Example("https://example.com/bad.png", "loose box", "bad")])
    page = _render(out)
    imgs = [a["src"] for t, a in _tags(page) if t == "img"]
    assert imgs == ["https://presigned.example/my-bucket/examples/good.jpg", "https://example.com/bad.png"]
    full = page.split("<full-instructions", 1)[1].split("</full-instructions>", 1)[0]
    assert "Good:" in full and "tight box" in full and "Bad:" in full
    with pytest.raises(ConfigError, match="example image"):
        render_worker_template(header="h", examples=[Example("javascript:alert(1)")])
    with pytest.raises(ConfigError):
        render_worker_template(header="h", examples=[Example("s3://b/x' | evil }}")])


def test_default_instructions() -> None:
    short, full = default_instructions()
    assert short and full
    out = render_worker_template(header="h", labels=["drone", "vehicle"])
    assert short in out and full in out
    # other labels: a generic text listing the labels, not the drone-specific defaults
    other = render_worker_template(header="h", labels=["boat", "buoy"])
    assert full not in other and re.search(r"<li>\{% raw %\}boat\{% endraw %\}</li>", other)
