"""The public API is small and pinned; importing gtlabel stays light."""

from __future__ import annotations

import subprocess
import sys

import gtlabel

PINNED = [
    "JobSpec", "LocalService", "TileSpec", "__version__", "build_input_manifest", "consolidate_bounding_boxes",
    "convert_ground_truth_to_yolo", "cost_so_far", "create_labeling_job_config", "estimate", "evaluate",
    "iter_output_manifest", "run_demo", "train_yolo", "validate_create_labeling_job", "watch_labeling_job",
    "write_report",
]


def test_all_is_pinned() -> None:
    assert sorted(gtlabel.__all__) == sorted(PINNED)


def test_every_export_resolves() -> None:
    for name in gtlabel.__all__:
        assert getattr(gtlabel, name) is not None, name


def test_import_is_light() -> None:
    code = ("import sys, gtlabel, gtlabel.ground_truth_utils, gtlabel.convert.run, gtlabel.jobs.validate, gtlabel.cli;"
            "heavy = [m for m in ('ultralytics', 'torch', 'sagemaker', 'playwright', 'moto', 'matplotlib')"
            " if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported eagerly: {out.stdout}"


def test_cli_and_core_import_without_the_extras() -> None:
    """A base install (no extras) can run ``gtlabel --help`` and import the core: every extra is blocked; and
    boto3 (most of a second) loads only when AWS is called."""
    code = (
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in {'numpy', 'matplotlib', 'starlette', 'uvicorn', 'moto', 'liquid', 'httpx',\n"
        "                                  'ultralytics', 'torch', 'sagemaker', 'playwright', 'imagehash',\n"
        "                                  'av', 'piexif', 'defusedxml'}:\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import gtlabel, gtlabel.cli, gtlabel.ground_truth_utils, gtlabel.convert, gtlabel.jobs.validate\n"
        "import gtlabel.lineage, gtlabel.iam, gtlabel.manifests, gtlabel.cost, gtlabel.monitor\n"
        "assert 'boto3' not in sys.modules, 'boto3 imported at start-up'\n"
        "from typer.testing import CliRunner\n"  # --help loads every area of the CLI (each on first use)
        "result = CliRunner().invoke(gtlabel.cli.app, ['--help'])\n"
        "assert result.exit_code == 0 and 'pipeline' in result.output, result.output\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
