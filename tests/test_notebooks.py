"""The notebook templates: clean in git, parameterized for papermill, and executed end to end (01 -> 02 -> 03
-> 04) against the local service that notebook 1 starts (a real ``gtlabel serve`` process)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ORDER = ["01_select_and_create_job", "02_monitor_job", "03_process_labels", "04_train_and_evaluate"]


def test_the_four_templates_exist_in_order() -> None:
    assert [p.stem for p in NOTEBOOKS] == ORDER


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_template_is_clean_and_parameterized(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: stored outputs"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{path.name}: one papermill parameters cell"
    assert 'BACKEND = "local"' in params[0].source and "WORKDIR" in params[0].source
    # the AWS/local choice is made in one cell only
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert sum("connect(BACKEND" in c for c in code) == 1
    assert not any("AWS_ENDPOINT_URL" in c or "aws_secret_access_key" in c.lower() for c in code)


def _outputs(nb: Any) -> str:
    """Every text the executed notebook shows (streams, plain/markdown/html displays).

    A cell's stdout (and stderr) is one text, as the kernel printed it: the kernel sends what was written every
    0.2 s, so one ``print("lineage verify:", "ok")`` (four writes) can arrive as two stream outputs, and nbclient
    keeps them apart (its ``coalesce_streams`` is off): joined with newlines, ``ok`` lands on a line of its own.
    """
    parts = []
    for cell in nb.cells:
        streams: dict[str, str] = {}
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                streams[out["name"]] = streams.get(out["name"], "") + str(out.get("text", ""))
                continue
            data = out.get("data", {})
            for mime in ("text/plain", "text/markdown", "text/html"):
                parts.append(str(data.get(mime, "")))
            if out.get("output_type") == "error":
                parts.append("\n".join(out.get("traceback", [])))
        parts.extend(streams.values())
    return "\n".join(parts)


def _run(name: str, out_dir: Path, **params: Any) -> tuple[Any, str]:
    import papermill

    out = out_dir / f"{name}.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), parameters=params,
                               kernel_name="python3", cwd=str(out_dir), progress_bar=False,
                               execution_timeout=600)
    nb = nbformat.read(out, as_version=4)
    return nb, _outputs(nb)


@pytest.mark.slow
@pytest.mark.train
def test_notebooks_run_end_to_end_on_the_local_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ultralytics")
    from gtlabel.notebook import stop_local_service

    for var in ("AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)  # notebook 1 must start its own `gtlabel serve`
    monkeypatch.setenv("GTLABEL_PROGRESS", "1")
    work = tmp_path / "work"
    n_images = 8
    try:
        _, text1 = _run(ORDER[0], tmp_path, WORKDIR=str(work), MAKE_SAMPLE_IMAGES=n_images,
                        WORKERS_PER_OBJECT=3, MAX_BUDGET_USD=10.0)
        endpoints = json.loads((work / "service" / "endpoints.json").read_text())
        secret = endpoints["env"]["AWS_SECRET_ACCESS_KEY"]
        state = json.loads((work / "notebook-state.json").read_text())
        assert state["job_name"].startswith("drone-boxes-") and state["labels"][0] == "drone"
        assert f"{n_images} images selected of {n_images + 2} seen" in text1
        assert "'near-duplicate': 2" in text1  # the two re-encoded burst frames
        assert "offline validation: no problems" in text1 and "within budget" in text1
        assert "OVER BUDGET" in text1  # the 20,000-image public-workforce estimate
        assert "crowd-bounding-box" in text1 and f"{endpoints['portal_url']}static/crowd-html-elements.js" in text1
        assert "created arn:aws:sagemaker:us-east-1:123456789012:labeling-job/" in text1

        # a budget below the job's cost ($0.08 x 8 images): the 50/80/100 % alerts fire, once each
        nb2, text2 = _run(ORDER[1], tmp_path, WORKDIR=str(work), POLL_SECONDS=0.5, STALL_AFTER_MINUTES=5,
                          BUDGET_USD=0.5)
        assert f"Completed: Counters(total_labeled={n_images}, human_labeled={n_images}" in text2
        alerts = [ln for ln in text2.splitlines() if ln.startswith("alert: ")]
        assert [a.split("(threshold ")[-1] for a in alerts] == ["50%)", "80%)", "100%)"], alerts
        assert f"'submitted': {3 * n_images}, 'declined': 0, 'errors': 0" in text2
        htmls = [o["data"]["text/html"] for c in nb2.cells for o in c.get("outputs", [])
                 if "text/html" in o.get("data", {})]
        assert any("<progress" in h for h in htmls)  # the live bar, rendered as HTML in the notebook
        assert any("image/png" in o.get("data", {}) for c in nb2.cells for o in c.get("outputs", []))
        assert (work / f"monitor-{state['job_name']}.png").stat().st_size > 5000
        state = json.loads((work / "notebook-state.json").read_text())
        assert state["output_manifest"].endswith(f"/{state['job_name']}/manifests/output/output.manifest")

        _, text3 = _run(ORDER[2], tmp_path, WORKDIR=str(work))
        assert "lineage verify: ok" in text3 and "Where did the label of" in text3
        assert (work / "quality-report.html").read_text().count("<table") >= 2
        report = json.loads((work / "quality-report.json").read_text())
        assert report["summary"]["images"] == n_images and report["summary"]["workers"] == 3
        data = yaml.safe_load((work / "dataset" / "data.yaml").read_text())
        assert data["names"] == {0: "drone", 1: "vehicle", 2: "person", 3: "building"}
        lineage = json.loads((work / "dataset" / "lineage.json").read_text())
        assert lineage["quality"]["images"] == n_images
        details = lineage["job_details"][state["job_name"]]
        assert details["LabelingJobArn"] == state["job_arn"]
        assert details["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"] == 3
        assert len(lineage["images"]) == n_images

        _, text4 = _run(ORDER[3], tmp_path, WORKDIR=str(work), EPOCHS=1, IMGSZ=64, BATCH=4)
        metrics = json.loads((work / "runs" / "evaluate" / "metrics.json").read_text())
        values = [v for v in metrics["metrics"].values() if isinstance(v, float)]
        assert values and all(0.0 <= v <= 1.0 for v in values)
        assert (work / "runs" / "evaluate" / "confusion_matrix.png").exists()
        definition = json.loads((work / "pipeline-definition.json").read_text())
        assert [s["Name"] for s in definition["Steps"]] == ["ConvertToYolo", "TrainYolo11", "EvaluateYolo11",
                                                            "CheckMap"]
        assert "steps: ['ConvertToYolo'" in text4

        # nothing secret ends up in a saved notebook
        for name in ORDER:
            assert secret not in (tmp_path / f"{name}.ipynb").read_text(), name
    finally:
        assert stop_local_service(work) or not (work / "service" / "endpoints.json").exists()
    assert not (work / "service" / "endpoints.json").exists()


def test_connect_rejects_unknown_backend_and_stale_state(tmp_path: Path) -> None:
    from gtlabel.errors import ConfigError
    from gtlabel.notebook import NotebookSession, connect

    with pytest.raises(ConfigError, match="BACKEND must be one of local, aws"):
        connect("gcp", workdir=tmp_path)
    sess = NotebookSession("aws", tmp_path, "us-east-1", None)
    with pytest.raises(ConfigError, match=r"job_name is not set.*run the earlier notebook"):
        sess.recall("job_name")
    assert sess.recall("job_name", "given") == "given"
    sess.remember(job_name="j1", dataset=tmp_path / "ds")
    assert sess.recall("job_name") == "j1" and sess.recall("dataset") == str(tmp_path / "ds")
    (tmp_path / "notebook-state.json").write_text("{oops")
    with pytest.raises(ConfigError, match=r"notebook-state\.json: not valid JSON"):
        sess.recall("job_name")


def test_connect_aws_refuses_a_local_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gtlabel.errors import ConfigError
    from gtlabel.notebook import connect

    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="BACKEND='aws' but AWS_ENDPOINT_URL_SAGEMAKER"):
        connect("aws", workdir=tmp_path, region="us-east-1")


def test_connect_local_reuses_a_service_the_user_started(local_service: Any, tmp_path: Path) -> None:
    from gtlabel.notebook import connect

    sess = connect("local", workdir=tmp_path)
    assert not sess.started_here and sess.portal_url == local_service.sagemaker_endpoint + "/"
    assert not (tmp_path / "service").exists()  # nothing started
    assert sess.client("sagemaker").list_workteams()["Workteams"][0]["WorkteamArn"] == \
        local_service.default_workteam_arn
    assert os.environ["AWS_ENDPOINT_URL_SAGEMAKER"] == local_service.sagemaker_endpoint
    assert "AWS_SECRET_ACCESS_KEY" not in repr(sess)


def test_connect_local_points_storage_not_the_environment(local_service: Any, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A service found through WORKDIR/service/endpoints.json is reached with explicit endpoints: the session's
    clients get them, gtlabel.storage gets a target, and os.environ stays as it was."""
    from gtlabel import storage
    from gtlabel.notebook import connect

    for var in ("AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var)
    storage.reset_clients()
    service = tmp_path / "service"
    storage.write_private_json(service / "endpoints.json", {  # this process plays the live `gtlabel serve`
        "pid": os.getpid(), "env": local_service.env(), "portal_url": local_service.portal_url})
    before = dict(os.environ)
    sess = connect("local", workdir=tmp_path)
    try:
        assert dict(os.environ) == before
        assert not sess.started_here and sess.target is storage.current_target()
        s3 = sess.client("s3")
        assert s3.meta.endpoint_url == local_service.s3_endpoint
        s3.create_bucket(Bucket="nb-target")
        storage.write_bytes("s3://nb-target/a.txt", b"through the target")
        assert s3.get_object(Bucket="nb-target", Key="a.txt")["Body"].read() == b"through the target"
        assert sess.client("sagemaker").list_workteams()["Workteams"][0]["WorkteamArn"] == \
            local_service.default_workteam_arn
    finally:
        assert sess.target is not None
        sess.target.deactivate()  # not sess.stop(): that would signal the "service", this very process
    assert storage.current_target() is None
