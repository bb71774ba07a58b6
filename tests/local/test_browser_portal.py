"""The worker UI through the real local service: Debian chromium logs in to the portal, takes tasks of a plain and
an adjustment job, draws / relabels / zooms / adjusts boxes with mouse and keyboard, and submits; the answer the
service stored in S3 (annotations/worker-response) equals what was drawn."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import CHROMIUM_ARGS, chromium_path, make_aerial_image

LABELS = ["drone", "vehicle", "person", "building"]
BB = "document.querySelector('crowd-bounding-box')"
BUCKET = "portal-data"
PRIOR = "prior-boxes"
PRIOR_BOXES = [{"class_id": 1, "left": 1500, "top": 1400, "width": 300, "height": 160},
               {"class_id": 3, "left": 600, "top": 300, "width": 420, "height": 330}]

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="Debian chromium is not installed (scripts/setup.sh)")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from gtlabel import storage
    from gtlabel.jobs.build import prepare_job
    from gtlabel.jobs.spec import JobSpec, PrivateWorkforce
    from gtlabel.local import LocalService

    mp = pytest.MonkeyPatch()
    with LocalService(engine_interval=None) as svc:
        for k, v in svc.env().items():
            mp.setenv(k, v)
        storage.reset_clients()
        s3 = svc.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        d = tmp_path_factory.mktemp("portal-imgs")
        plain, adjust = [], []
        for i in range(2):
            img = make_aerial_image(d / f"drone{i}.jpg", 4000, 3000, seed=20 + i)
            key = f"images/drone{i}.jpg"
            s3.upload_file(str(img.path), BUCKET, key)
            ref = f"s3://{BUCKET}/{key}"
            plain.append({"source-ref": ref})
            adjust.append({"source-ref": ref,
                           PRIOR: {"image_size": [{"width": 4000, "height": 3000, "depth": 3}],
                                   "annotations": PRIOR_BOXES},
                           f"{PRIOR}-metadata": {"class-map": {"1": "vehicle", "3": "building"},
                                                 "type": "groundtruth/object-detection", "human-annotated": "yes",
                                                 "objects": [{"confidence": 0.9}, {"confidence": 0.8}],
                                                 "creation-date": "2026-11-01T00:00:00.000000",
                                                 "job-name": "labeling-job/earlier"}})
        for name, lines in (("plain", plain), ("adjust", adjust)):
            s3.put_object(Bucket=BUCKET, Key=f"{name}.manifest", Body="\n".join(map(json.dumps, lines)).encode())
        svc.add_worker(svc.default_team, "pilot", "correct-horse-1")
        sm = svc.client("sagemaker")
        wf = PrivateWorkforce(workteam=svc.default_workteam_arn)
        for spec in (
            JobSpec(name="browser-plain", input_manifest=f"s3://{BUCKET}/plain.manifest",
                    output_path=f"s3://{BUCKET}/out/", labels=LABELS, workforce=wf,
                    header="Box every drone, vehicle, person and building"),
            JobSpec(name="browser-adjust", task_type="AdjustmentBoundingBox", prior_label_attribute_name=PRIOR,
                    input_manifest=f"s3://{BUCKET}/adjust.manifest", output_path=f"s3://{BUCKET}/out/",
                    labels=LABELS, workforce=wf, header="Check and fix the boxes"),
        ):
            sm.create_labeling_job(**prepare_job(spec, sm_client=sm).request)
        for _ in range(3):
            svc.engine.tick()
        yield svc
        storage.reset_clients()
    mp.undo()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def tab(browser: Any, service: Any) -> Iterator[Any]:
    """One logged-in worker session for the module."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(service.portal_url + "login")
    pg.fill("#username", "pilot")
    pg.fill("#password", "correct-horse-1")
    pg.click("button[type=submit]")
    pg.wait_for_url(service.portal_url)
    yield pg
    ctx.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def wait_until(tab: Any, expression: str, timeout_s: float = 15.0) -> None:
    """Poll a JS expression (page.wait_for_function evaluates strings, which the task page's CSP forbids)."""
    import time

    deadline = time.monotonic() + timeout_s
    while not tab.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.05)


def to_client(tab: Any, x: float, y: float) -> tuple[float, float]:
    p = tab.evaluate(f"([x, y]) => {BB}.imageToClient(x, y)", [x, y])
    return p["x"], p["y"]


def to_image(tab: Any, x: float, y: float) -> tuple[float, float]:
    p = tab.evaluate(f"([x, y]) => {BB}.clientToImage(x, y)", [x, y])
    return p["x"], p["y"]


def drag(tab: Any, a: tuple[float, float], b: tuple[float, float]) -> None:
    tab.mouse.move(*a)
    tab.mouse.down()
    tab.mouse.move((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, steps=4)
    tab.mouse.move(*b, steps=4)
    tab.mouse.up()


def draw_box(tab: Any, left: float, top: float, right: float, bottom: float) -> dict[str, int]:
    a = tuple(round(v) for v in to_client(tab, left, top))
    b = tuple(round(v) for v in to_client(tab, right, bottom))
    drag(tab, a, b)  # type: ignore[arg-type]
    ia, ib = to_image(tab, *a), to_image(tab, *b)
    return {"left": round(ia[0]), "top": round(ia[1]), "width": round(ib[0]) - round(ia[0]),
            "height": round(ib[1]) - round(ia[1])}


def close_to(box: dict[str, Any], want: dict[str, Any], tol: int = 1) -> bool:
    return all(abs(box[k] - want[k]) <= tol for k in ("left", "top", "width", "height"))


def start_job(tab: Any, service: Any, job: str) -> str:
    tab.goto(service.portal_url)
    tab.click(f'form[action="/jobs/{job}/start"] button')
    tab.wait_for_url("**/tasks/*")
    tab.wait_for_selector("crowd-bounding-box[data-image-loaded]", timeout=20000)
    return str(tab.url.rsplit("/", 1)[-1])


def stored_answer(service: Any, job: str) -> list[dict[str, Any]]:
    """Worker answers the service wrote to S3 (the engine writes them when it consolidates the object)."""
    for _ in range(3):
        service.engine.tick()
    s3 = service.client("s3")
    out = []
    resp = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"out/{job}/annotations/worker-response/")
    for obj in sorted(resp.get("Contents", []), key=lambda o: o["Key"]):
        doc = json.loads(s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
        out += [a["answerContent"] for a in doc["answers"]]
    return out


def test_portal_draw_relabel_zoom_and_submit(tab: Any, service: Any, artifacts_dir: Path) -> None:
    tab.screenshot(path=str(artifacts_dir / "portal-jobs.png"))
    start_job(tab, service, "browser-plain")
    # the page uses our local elements: no request left 127.0.0.1
    assert tab.evaluate("[...document.scripts].every(s => !s.src || s.src.startsWith(location.origin))")
    assert tab.evaluate(f"{BB}.labels") == LABELS
    assert tab.inner_text(".gtl-bb-title") == "Box every drone, vehicle, person and building"

    tab.keyboard.press("2")                      # vehicle
    a = draw_box(tab, 800, 1000, 1300, 1300)
    tab.keyboard.press("4")                      # building
    b = draw_box(tab, 2200, 300, 2900, 900)
    tab.mouse.click(*to_client(tab, 1050, 1150))  # select the first box ...
    tab.keyboard.press("1")                      # ... and relabel it "drone" with the keyboard
    # zoom in on a small object and draw it precisely
    tab.mouse.move(*to_client(tab, 3320, 2520))
    for _ in range(7):
        tab.mouse.wheel(0, -400)
    wait_until(tab, f"{BB}.zoom > 2")
    tab.keyboard.press("Escape")
    tab.keyboard.press("3")                      # person
    draw_box(tab, 3300, 2500, 3360, 2560)
    value = tab.evaluate(f"{BB}.value")
    got = value["boundingBoxes"]
    assert [g["label"] for g in got] == ["drone", "building", "person"]
    assert close_to(got[0], a) and close_to(got[1], b)
    assert close_to(got[2], {"left": 3300, "top": 2500, "width": 60, "height": 60}), got[2]
    counts = tab.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.gtl-label')].map(b =>
        [b.querySelector('.gtl-label-name').textContent, Number(b.querySelector('.gtl-label-count').textContent)]))""")
    assert counts == {"drone": 1, "vehicle": 0, "person": 1, "building": 1}
    tab.screenshot(path=str(artifacts_dir / "portal-task-zoomed.png"))
    tab.keyboard.press("f")
    tab.mouse.move(*to_client(tab, 2000, 1900))
    tab.screenshot(path=str(artifacts_dir / "portal-task.png"))

    task_url = tab.url
    tab.click("crowd-form .gtl-btn-primary")
    tab.wait_for_url(lambda u: u != task_url)
    stored = stored_answer(service, "browser-plain")
    assert stored == [{"boundingBox": value}]
    # the next task of the job was served right after the submit
    tab.wait_for_selector("crowd-bounding-box[data-image-loaded]", timeout=20000)
    assert tab.evaluate(f"{BB}.value.boundingBoxes") == []


def test_portal_adjust_initial_boxes(tab: Any, service: Any, artifacts_dir: Path) -> None:
    start_job(tab, service, "browser-adjust")
    v = tab.evaluate(f"{BB}.value")
    assert v["initialValueModified"] is False
    assert v["boundingBoxes"] == [{"label": "vehicle", "left": 1500, "top": 1400, "width": 300, "height": 160},
                                  {"label": "building", "left": 600, "top": 300, "width": 420, "height": 330}]
    tab.evaluate(f"{BB}.setZoom(1, ...Object.values({BB}.imageToClient(1650, 1480)))")
    tab.mouse.click(*to_client(tab, 1650, 1480))
    hx, hy = (round(c) for c in to_client(tab, 1800, 1560))      # bottom-right handle of the vehicle box
    drag(tab, (hx, hy), (hx + 36, hy + 20))
    tab.keyboard.press("ArrowLeft")                               # nudge 1 px left
    tab.mouse.move(*to_client(tab, 1700, 1650))
    tab.screenshot(path=str(artifacts_dir / "portal-adjust.png"))
    v = tab.evaluate(f"{BB}.value")
    assert close_to(v["boundingBoxes"][0], {"left": 1499, "top": 1400, "width": 336, "height": 180})
    assert v["initialValueModified"] is True
    task_url = tab.url
    tab.click("crowd-form .gtl-btn-primary")
    tab.wait_for_url(lambda u: u != task_url)
    stored = stored_answer(service, "browser-adjust")
    assert stored and stored[0] == {"boundingBox": v}


def test_portal_stale_csrf_error_then_skip(tab: Any, service: Any) -> None:
    # the previous submit claimed the job's next task; GET /jobs/{job}/next claims nothing itself: its button
    # (a POST) gives that claim again
    tab.goto(service.portal_url + "jobs/browser-adjust/next")
    tab.click("button[type=submit]")
    tab.wait_for_url("**/tasks/*")
    tab.wait_for_selector("crowd-bounding-box[data-image-loaded]", timeout=20000)
    task_url = tab.url
    # a wrong CSRF token (as after logging in again elsewhere) is refused and shown; nothing is lost on the page
    good = tab.evaluate("document.querySelector('meta[name=csrf-token]').content")
    tab.evaluate("document.querySelector('meta[name=csrf-token]').content = 'stale'")
    tab.click("crowd-form .gtl-btn-primary")
    tab.wait_for_selector("crowd-form[data-status=error]")
    banner = tab.inner_text(".gtl-banner")
    assert "CSRF" in banner and "session" in banner
    assert len(tab.evaluate(f"{BB}.value.boundingBoxes")) == 2
    assert tab.url == task_url
    # skip (decline) with the right token: the portal moves on and the task is closed
    tab.evaluate(f"document.querySelector('meta[name=csrf-token]').content = {json.dumps(good)}")
    tab.click('.gtl-footer button:has-text("Skip task")')
    tab.wait_for_url(lambda u: u != task_url)
    r = tab.request.get(task_url)
    assert r.status == 409 and "declined" in r.text()
