"""crowd-html-elements.js in Debian's chromium (Playwright), against the shipped template rendered with python-liquid
and served by a tiny local HTTP server (tests/local/harness). The portal tests (test_browser_portal.py) repeat the
main flow through the real service."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import (
    CHROMIUM_ARGS,
    TEMPLATES,
    AerialImage,
    Harness,
    adjustment_initial_value,
    chromium_path,
    fill_template,
    instructions_part,
    make_aerial_image,
    page,
    render_liquid,
    serve,
)

LABELS = ["drone", "vehicle", "person", "building"]
BB = "document.querySelector('crowd-bounding-box')"
CSRF = "csrf-test-token-123"

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="Debian chromium is not installed (scripts/setup.sh)")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> AerialImage:
    return make_aerial_image(tmp_path_factory.mktemp("img") / "aerial.jpg", 4000, 3000, seed=1)


@pytest.fixture(scope="module")
def harness(image: AerialImage) -> Iterator[Harness]:
    with serve({"/img/aerial.jpg": image.path}) as h:
        yield h


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def tab(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def task_page(h: Harness, name: str, *, initial_value: str = "", manifest_line: dict[str, Any] | None = None,
              labels: list[str] | None = None, header: str = "Box every drone, vehicle, person and building",
              metas: bool = True) -> str:
    tpl = fill_template(header=header, initial_value=initial_value)
    task_input: dict[str, Any] = {"taskObject": "s3://bucket/images/aerial.jpg", "labels": labels or LABELS}
    if manifest_line is not None:
        task_input["manifestLine"] = manifest_line
    rendered = render_liquid(tpl, task_input, "/img/aerial.jpg")
    m = {"csrf-token": CSRF, "gtlabel-submit": f"/{name}/submit", "gtlabel-decline": f"/{name}/decline",
         "gtlabel-return": f"/{name}/return", "gtlabel-home": "/done.html"} if metas else {}
    return h.add_page(f"/{name}.html", page(rendered, m))


def open_task(tab: Any, url: str) -> None:
    tab.goto(url)
    tab.wait_for_selector("crowd-bounding-box[data-image-loaded]", timeout=15000)


def to_client(tab: Any, x: float, y: float) -> tuple[float, float]:
    p = tab.evaluate(f"([x, y]) => {BB}.imageToClient(x, y)", [x, y])
    return p["x"], p["y"]


def to_image(tab: Any, x: float, y: float) -> tuple[float, float]:
    p = tab.evaluate(f"([x, y]) => {BB}.clientToImage(x, y)", [x, y])
    return p["x"], p["y"]


def drag(tab: Any, a: tuple[float, float], b: tuple[float, float], button: str = "left") -> None:
    tab.mouse.move(*a)
    tab.mouse.down(button=button)
    tab.mouse.move((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, steps=4)
    tab.mouse.move(*b, steps=4)
    tab.mouse.up(button=button)


def draw_box(tab: Any, left: float, top: float, right: float, bottom: float) -> dict[str, int]:
    """Drag from image point (left, top) to (right, bottom); return the box the drawn mouse positions mean."""
    a = tuple(round(v) for v in to_client(tab, left, top))
    b = tuple(round(v) for v in to_client(tab, right, bottom))
    drag(tab, a, b)  # type: ignore[arg-type]
    ia, ib = to_image(tab, *a), to_image(tab, *b)
    return {"left": round(ia[0]), "top": round(ia[1]), "width": round(ib[0]) - round(ia[0]), "height": round(ib[1]) - round(ia[1])}


def value(tab: Any) -> dict[str, Any]:
    return tab.evaluate(f"{BB}.value")  # type: ignore[no-any-return]


def close_to(box: dict[str, Any], want: dict[str, Any], tol: int = 1) -> bool:
    return all(abs(box[k] - want[k]) <= tol for k in ("left", "top", "width", "height"))


def label_counts(tab: Any) -> dict[str, int]:
    rows = tab.evaluate("""() => [...document.querySelectorAll('.gtl-label')].map(b =>
        [b.querySelector('.gtl-label-name').textContent, Number(b.querySelector('.gtl-label-count').textContent)])""")
    return {k: v for k, v in rows}


# ---------------------------------------------------------------------------------------------------------------


def test_template_is_ground_truth_compatible() -> None:
    tpl = (TEMPLATES / "drone-bounding-box.liquid.html").read_text(encoding="utf-8")
    assert '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>' in tpl
    assert 'name="boundingBox"' in tpl
    assert 'src="{{ task.input.taskObject | grant_read_access }}"' in tpl
    assert 'labels="{{ task.input.labels | to_json | escape }}"' in tpl
    for ph in ("__GTLABEL_HEADER__", "__GTLABEL_SHORT_INSTRUCTIONS__", "__GTLABEL_FULL_INSTRUCTIONS__", "__GTLABEL_INITIAL_VALUE__"):
        assert tpl.count(ph) == 1, ph
    assert "<full-instructions" in tpl and "<short-instructions>" in tpl


def test_default_instructions_cover_the_four_classes_offline() -> None:
    text = (TEMPLATES / "default-instructions.html").read_text(encoding="utf-8")
    short, full = instructions_part("short"), instructions_part("full")
    for cls in LABELS:
        assert cls in full
    # good and bad example images, all inline (no URL a browser would fetch)
    assert short.count('class="gtl-good"') >= 1 and short.count('class="gtl-bad"') >= 1
    assert full.count('class="gtl-good"') >= 4 and full.count('class="gtl-bad"') >= 4
    srcs = re.findall(r'src="([^"]*)"', text)
    assert srcs and all(s.startswith("data:image/svg+xml,") for s in srcs)
    assert not re.search(r"(?:href|src)=\"(?:https?:)?//", text)
    assert "{{" not in text and "{%" not in text  # Liquid-free
    assert len(short.encode()) < 100_000  # Ground Truth's short-instruction quota, images included


def test_draw_relabel_zoom_undo_and_submit(tab: Any, harness: Harness, image: AerialImage, artifacts_dir: Path) -> None:
    open_task(tab, task_page(harness, "plain"))
    v0 = value(tab)
    assert v0 == {"boundingBoxes": [], "inputImageProperties": {"width": 4000, "height": 3000}}
    assert tab.evaluate(f"{BB}.labels") == LABELS
    tab.screenshot(path=str(artifacts_dir / "01-loaded.png"))

    # label 1 (drone) by key, draw at fit zoom
    tab.keyboard.press("1")
    a = draw_box(tab, 1000, 800, 1400, 1100)
    # label 2 (vehicle) by key, draw another
    tab.keyboard.press("2")
    b = draw_box(tab, 2000, 400, 2600, 700)
    v = value(tab)["boundingBoxes"]
    assert [x["label"] for x in v] == ["drone", "vehicle"]
    assert close_to(v[0], a) and close_to(v[1], b), (v, a, b)

    # select the first box by clicking in it, change its label with the keyboard
    cx, cy = to_client(tab, 1200, 950)
    tab.mouse.click(cx, cy)
    assert tab.evaluate(f"{BB}.selectedIndex") == 0
    tab.keyboard.press("3")
    v = value(tab)["boundingBoxes"]
    assert v[0]["label"] == "person" and close_to(v[0], a), "relabelling must not move the box"
    assert label_counts(tab) == {"drone": 0, "vehicle": 1, "person": 1, "building": 0}

    # zoom in with the mouse wheel around a small object, then draw precisely
    vx, vy = to_client(tab, 2520, 1520)
    tab.mouse.move(vx, vy)
    for _ in range(6):
        tab.mouse.wheel(0, -400)
    tab.wait_for_function(f"{BB}.zoom > 2")
    zoom = tab.evaluate(f"{BB}.zoom")
    tab.keyboard.press("4")
    c = draw_box(tab, 2500, 1500, 2560, 1540)
    got = value(tab)["boundingBoxes"][2]
    want = {"label": "building", "left": 2500, "top": 1500, "width": 60, "height": 40}
    assert got["label"] == "building" and close_to(got, want), (got, zoom)
    assert close_to(got, c)
    tab.screenshot(path=str(artifacts_dir / "02-zoomed.png"))

    # delete the selected box, undo, redo, undo
    tab.keyboard.press("Delete")
    assert len(value(tab)["boundingBoxes"]) == 2
    tab.keyboard.press("Control+z")
    assert len(value(tab)["boundingBoxes"]) == 3
    tab.keyboard.press("Control+Shift+z")
    assert len(value(tab)["boundingBoxes"]) == 2
    tab.keyboard.press("Control+z")
    assert len(value(tab)["boundingBoxes"]) == 3

    tab.keyboard.press("f")
    assert tab.evaluate(f"{BB}.zoom") < 0.5
    expected = value(tab)
    tab.mouse.move(*to_client(tab, 3000, 2200))
    tab.screenshot(path=str(artifacts_dir / "task-page.png"))

    tab.click("crowd-form .gtl-btn-primary")
    tab.wait_for_url("**/done.html")
    post = harness.posts[-1]
    assert post.path == "/plain/submit"
    assert post.headers["x-csrf-token"] == CSRF
    assert post.headers["content-type"].startswith("application/json")
    assert post.body == {"boundingBox": expected}
    assert all(isinstance(x[k], int) for x in expected["boundingBoxes"] for k in ("left", "top", "width", "height"))
    assert "initialValueModified" not in expected


def test_pan_and_keyboard_keep_coordinates_exact(tab: Any, harness: Harness) -> None:
    open_task(tab, task_page(harness, "pan"))
    tab.evaluate(f"{BB}.setZoom(2)")
    # pan with space + drag, then with a right-button drag
    before = to_client(tab, 100, 100)
    tab.mouse.move(700, 450)
    tab.keyboard.down(" ")
    drag(tab, (700, 450), (500, 350))
    tab.keyboard.up(" ")
    after = to_client(tab, 100, 100)
    assert abs((after[0] - before[0]) - (-200)) < 1.5 and abs((after[1] - before[1]) - (-100)) < 1.5
    assert value(tab)["boundingBoxes"] == [], "panning must not draw"
    drag(tab, (600, 400), (650, 420), button="right")
    after2 = to_client(tab, 100, 100)
    assert abs(after2[0] - after[0] - 50) < 1.5
    # after panning, what is drawn is still exact
    x0, y0 = to_image(tab, 700, 400)
    box = draw_box(tab, round(x0), round(y0), round(x0) + 80, round(y0) + 50)
    got = value(tab)["boundingBoxes"][0]
    assert close_to(got, {"left": round(x0), "top": round(y0), "width": 80, "height": 50}) and close_to(got, box)
    # nudge the selected box with arrows (1 px, Shift: 10 px)
    tab.keyboard.press("ArrowRight")
    tab.keyboard.press("Shift+ArrowDown")
    moved = value(tab)["boundingBoxes"][0]
    assert (moved["left"], moved["top"]) == (got["left"] + 1, got["top"] + 10)
    assert (moved["width"], moved["height"]) == (got["width"], got["height"])
    # Escape clears the selection; Tab selects again
    tab.keyboard.press("Escape")
    assert tab.evaluate(f"{BB}.selectedIndex") == -1
    tab.keyboard.press("Tab")
    assert tab.evaluate(f"{BB}.selectedIndex") == 0
    # zoom keys
    z = tab.evaluate(f"{BB}.zoom")
    tab.keyboard.press("+")
    assert tab.evaluate(f"{BB}.zoom") > z
    tab.keyboard.press("-")
    tab.keyboard.press("-")
    assert tab.evaluate(f"{BB}.zoom") < z


def test_adjust_initial_boxes(tab: Any, harness: Harness, artifacts_dir: Path) -> None:
    prior = "drone-boxes"
    line = {"source-ref": "s3://bucket/images/aerial.jpg",
            prior: {"image_size": [{"width": 4000, "height": 3000, "depth": 3}],
                    "annotations": [{"class_id": 1, "left": 1500, "top": 1400, "width": 300, "height": 160},
                                    {"class_id": 3, "left": 600, "top": 300, "width": 420, "height": 330}]},
            prior + "-metadata": {"class-map": {"1": "vehicle", "3": "building"}, "type": "groundtruth/object-detection"}}
    url = task_page(harness, "adjust", initial_value=adjustment_initial_value(prior), manifest_line=line)
    open_task(tab, url)
    v = value(tab)
    assert v["initialValueModified"] is False
    assert v["boundingBoxes"] == [
        {"label": "vehicle", "left": 1500, "top": 1400, "width": 300, "height": 160},
        {"label": "building", "left": 600, "top": 300, "width": 420, "height": 330}]
    tab.evaluate(f"{BB}.setZoom(1, ...Object.values({BB}.imageToClient(1650, 1480)))")
    # select the vehicle and drag its bottom-right handle by (+40, +24) image px at zoom 1
    tab.mouse.click(*to_client(tab, 1650, 1480))
    assert tab.evaluate(f"{BB}.selectedIndex") == 0
    hx, hy = (round(v) for v in to_client(tab, 1800, 1560))
    drag(tab, (hx, hy), (hx + 40, hy + 24))
    got = value(tab)["boundingBoxes"][0]
    assert close_to(got, {"left": 1500, "top": 1400, "width": 340, "height": 184}), got
    # move it by dragging its middle
    mx, my = (round(v) for v in to_client(tab, 1660, 1490))
    drag(tab, (mx, my), (mx - 30, my - 20))
    got = value(tab)["boundingBoxes"][0]
    assert close_to(got, {"left": 1470, "top": 1380, "width": 340, "height": 184}), got
    v = value(tab)
    assert v["initialValueModified"] is True
    tab.mouse.move(*to_client(tab, 1700, 1700))
    tab.screenshot(path=str(artifacts_dir / "adjust.png"))
    tab.click("crowd-form .gtl-btn-primary")
    tab.wait_for_url("**/done.html")
    assert harness.posts[-1].body == {"boundingBox": v}


def test_unchanged_adjustment_reports_not_modified(tab: Any, harness: Harness) -> None:
    line = {"p": {"annotations": [{"class_id": 0, "left": 10, "top": 20, "width": 30, "height": 40}]},
            "p-metadata": {"class-map": {"0": "drone"}}}
    open_task(tab, task_page(harness, "adjust0", initial_value=adjustment_initial_value("p"), manifest_line=line))
    tab.click("crowd-form .gtl-btn-primary")
    tab.wait_for_url("**/done.html")
    assert harness.posts[-1].body == {"boundingBox": {
        "boundingBoxes": [{"label": "drone", "left": 10, "top": 20, "width": 30, "height": 40}],
        "inputImageProperties": {"width": 4000, "height": 3000}, "initialValueModified": False}}


def test_empty_answer_needs_confirmation_and_server_errors_are_shown(tab: Any, harness: Harness) -> None:
    harness.replies["/err/submit"] = (409, {"error": "this task expired"})
    open_task(tab, task_page(harness, "err"))
    n = len(harness.posts)
    tab.click("crowd-form .gtl-btn-primary")
    tab.wait_for_selector("crowd-form[data-status=warning]")
    assert "No boxes drawn" in tab.inner_text(".gtl-banner")
    assert len(harness.posts) == n, "the first Submit with no boxes only asks for confirmation"
    tab.click("crowd-form .gtl-btn-primary")
    tab.wait_for_selector("crowd-form[data-status=error]")
    assert "this task expired" in tab.inner_text(".gtl-banner")
    assert harness.posts[-1].body == {"boundingBox": {"boundingBoxes": [], "inputImageProperties": {"width": 4000, "height": 3000}}}
    assert tab.url.endswith("/err.html"), "an error keeps the worker on the task"
    assert tab.evaluate("document.querySelector('crowd-form .gtl-btn-primary').disabled") is False


def test_skip_posts_decline_with_csrf(tab: Any, harness: Harness) -> None:
    open_task(tab, task_page(harness, "skip"))
    tab.click(".gtl-footer button:has-text(\"Skip task\")")
    tab.wait_for_url("**/done.html")
    post = harness.posts[-1]
    assert post.path == "/skip/decline" and post.headers["x-csrf-token"] == CSRF and post.body == {}


def test_return_posts_return_with_csrf(tab: Any, harness: Harness) -> None:
    harness.replies["/ret/return"] = (200, {"ok": True, "next": "/done.html?returned"})
    open_task(tab, task_page(harness, "ret"))
    tab.click('.gtl-footer button:has-text("Return task")')
    tab.wait_for_url("**/done.html?returned")
    post = harness.posts[-1]
    assert post.path == "/ret/return" and post.headers["x-csrf-token"] == CSRF and post.body == {}


def test_preview_without_submit_url_does_not_post(tab: Any, harness: Harness) -> None:
    open_task(tab, task_page(harness, "preview", metas=False))
    assert tab.locator(".gtl-footer button:has-text(\"Skip task\")").count() == 0
    n = len(harness.posts)
    draw_box(tab, 100, 100, 900, 700)
    tab.keyboard.press("Control+Enter")          # the submit shortcut
    tab.wait_for_selector("crowd-form[data-status=success]")
    last = tab.evaluate("window.gtlabelLastAnswer")
    assert last == {"boundingBox": value(tab)} and len(last["boundingBox"]["boundingBoxes"]) == 1
    assert len(harness.posts) == n


def test_html_in_labels_and_header_is_text(tab: Any, harness: Harness) -> None:
    evil = '<img src=x onerror="window.pwned=1">'
    url = task_page(harness, "xss", labels=["drone", evil], header='<script>window.pwned=2</script> "q" & <b>')
    open_task(tab, url)
    assert tab.evaluate("window.pwned") is None
    assert tab.evaluate(f"{BB}.labels") == ["drone", evil]
    assert evil in tab.inner_text(".gtl-labels")
    assert '<script>window.pwned=2</script> "q" & <b>' in tab.inner_text(".gtl-bb-title")
    assert tab.locator(".gtl-bb img[src=x]").count() == 0


def test_instructions_and_shortcut_help(tab: Any, harness: Harness, artifacts_dir: Path) -> None:
    open_task(tab, task_page(harness, "instr"))
    assert "tight box" in tab.inner_text(".gtl-short-body")
    tab.keyboard.press("i")
    dialog = tab.locator(".gtl-modal:not([hidden]) .gtl-modal-dialog")
    assert "Drone imagery: bounding box instructions" in dialog.inner_text()
    assert dialog.locator("img").count() >= 8
    tab.wait_for_function("[...document.querySelectorAll('.gtl-modal:not([hidden]) img')].every(i => i.complete && i.naturalWidth > 0)")
    tab.screenshot(path=str(artifacts_dir / "full-instructions.png"))
    tab.keyboard.press("Escape")
    assert tab.locator(".gtl-modal:not([hidden])").count() == 0
    tab.keyboard.press("?")
    assert "Undo" in tab.inner_text(".gtl-modal:not([hidden])")
    tab.screenshot(path=str(artifacts_dir / "shortcuts.png"))


def test_relaxed_initial_value_parser(tab: Any, harness: Harness) -> None:
    open_task(tab, task_page(harness, "parse"))
    got = tab.evaluate("""() => [
        gtlabelCrowd.parseRelaxed('[{ label: "car", left: 1, top: 2.5, width: -3, height: 4e1 }, ]'),
        gtlabelCrowd.parseRelaxed("[ { 'label': 'a\\\\'b', left: 0 } ]"),
        gtlabelCrowd.parseRelaxed('[\\n  \\n]'),
        (() => { try { gtlabelCrowd.parseRelaxed('[{ label: }]'); return 'no error'; } catch (e) { return e.name; } })(),
    ]""")
    assert got[0] == [{"label": "car", "left": 1, "top": 2.5, "width": -3, "height": 40}]
    assert got[1] == [{"label": "a'b", "left": 0}]
    assert got[2] == []
    assert got[3] == "SyntaxError"


def test_answer_json_matches_ground_truth_shape(tab: Any, harness: Harness) -> None:
    open_task(tab, task_page(harness, "shape"))
    draw_box(tab, 10, 10, 500, 400)
    v = value(tab)
    assert set(v) == {"boundingBoxes", "inputImageProperties"}
    assert set(v["boundingBoxes"][0]) == {"label", "left", "top", "width", "height"}
    assert json.loads(json.dumps(v)) == v
    # boxes never leave the image: draw past the right/bottom edge
    draw_box(tab, 3800, 2800, 4300, 3300)
    edge = value(tab)["boundingBoxes"][1]
    assert edge["left"] + edge["width"] <= 4000 and edge["top"] + edge["height"] <= 3000
    assert edge["left"] + edge["width"] >= 3999


def test_custom_template_elements_and_native_inputs(tab: Any, harness: Harness) -> None:
    """A Ground Truth template of one's own: author-placed submit button, crowd-alert, crowd-instructions and plain
    inputs; the answer has every named element, and the submit button is not duplicated."""
    tpl = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-alert type="warning">Only label what is <b>inside</b> the field.</crowd-alert>
  <crowd-instructions link-text="How to label">
    <short-summary><p>Box the tractors.</p></short-summary>
    <detailed-instructions><p>Tractors are green.</p></detailed-instructions>
    <positive-example><p>A tight box.</p></positive-example>
    <negative-example><p>A loose box.</p></negative-example>
  </crowd-instructions>
  <crowd-bounding-box name="annotatedResult" src="{{ task.input.taskObject | grant_read_access }}"
    header="{{ task.input.header }}" labels="{{ task.input.labels | to_json | escape }}">
    <full-instructions header="Tractors">Green ones.</full-instructions>
    <short-instructions>Box tractors.</short-instructions>
  </crowd-bounding-box>
  <label>Comment <input name="comment" type="text"></label>
  <label><input name="blurry" type="checkbox"> blurry</label>
  <crowd-button form-action="submit" variant="primary">Send answer</crowd-button>
</crowd-form>"""
    rendered = render_liquid(tpl, {"taskObject": "s3://b/aerial.jpg", "labels": ["tractor"], "header": "Tractors"},
                             "/img/aerial.jpg")
    url = harness.add_page("/custom.html", page(rendered, {"csrf-token": CSRF, "gtlabel-submit": "/custom/submit"}))
    open_task(tab, url)
    assert tab.locator("crowd-button[form-action=submit]").count() == 1
    assert tab.get_attribute("crowd-alert", "role") == "alert"
    tab.click("crowd-instructions button")
    modal = tab.locator(".gtl-modal:not([hidden])")
    assert "Tractors are green." in modal.inner_text() and "good example" in modal.inner_text().lower()
    tab.keyboard.press("Escape")
    draw_box(tab, 200, 200, 900, 700)
    tab.fill("input[name=comment]", "two tractors, one hidden")
    tab.check("input[name=blurry]")
    tab.click("crowd-button[form-action=submit] button")
    tab.wait_for_url("**/done.html")
    body = harness.posts[-1].body
    assert set(body) == {"annotatedResult", "comment", "blurry"}
    assert body["comment"] == "two tractors, one hidden" and body["blurry"] is True
    assert body["annotatedResult"]["boundingBoxes"][0]["label"] == "tractor"


def test_minimap_and_toolbar_keep_keyboard_on_the_image(tab: Any, harness: Harness) -> None:
    open_task(tab, task_page(harness, "mini"))
    assert tab.locator(".gtl-minimap").is_hidden(), "no overview at fit zoom"
    tab.click(".gtl-toolbar button:has-text('1:1')")
    assert abs(tab.evaluate(f"{BB}.zoom") - 1) < 1e-9
    assert tab.evaluate("document.activeElement.classList.contains('gtl-stage')"), "toolbar returns focus"
    mini = tab.locator(".gtl-minimap")
    mini.wait_for(state="visible", timeout=5000)  # shown by the next animation frame's paint, not by the click
    assert mini.is_visible()
    bb = mini.bounding_box()
    assert bb is not None
    # click the overview at 3/4 of the image width and 1/4 of its height: the view centres there
    tab.mouse.click(bb["x"] + bb["width"] * 0.75, bb["y"] + bb["height"] * 0.25)
    stage = tab.locator(".gtl-stage").bounding_box()
    centre = to_image(tab, stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    assert abs(centre[0] - 3000) < 40 and abs(centre[1] - 750) < 40, centre
    # H hides boxes (nothing can be selected while hidden), H shows them again
    draw_box(tab, 2900, 700, 3100, 800)
    tab.keyboard.press("h")
    tab.keyboard.press("Escape")
    tab.mouse.click(*to_client(tab, 3000, 750))
    assert tab.evaluate(f"{BB}.selectedIndex") == -1
    tab.keyboard.press("h")
    tab.mouse.click(*to_client(tab, 3000, 750))
    assert tab.evaluate(f"{BB}.selectedIndex") == 0
