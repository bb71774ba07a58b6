"""Processing step: convert a Ground Truth output manifest to a YOLO11 dataset with gtlabel.

``--manifest`` is the manifest file or the folder SageMaker downloaded it into (the one file there, or
``output.manifest``). Images are read from their ``source-ref`` (S3, with the step's role).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gtlabel.convert import convert_ground_truth_to_yolo
from gtlabel.errors import GtlabelError, NotFound


def find_manifest(path: Path) -> Path:
    """The manifest file itself, or the single manifest-like file in a folder (``output.manifest`` preferred)."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise NotFound("no manifest here", str(path))
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    preferred = [p for p in files if p.name == "output.manifest"]
    if len(preferred) == 1:
        return preferred[0]
    if len(files) == 1:
        return files[0]
    raise NotFound(f"expected one manifest file, found {len(files)}: {', '.join(p.name for p in files[:10])}",
                   str(path))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="gtlabel.pipeline_scripts.convert", description=__doc__)
    ap.add_argument("--manifest", default="/opt/ml/processing/input/manifest")
    ap.add_argument("--output", default="/opt/ml/processing/output/yolo")
    ap.add_argument("--classes", required=True, help="comma-separated class names, in class-id order")
    ap.add_argument("--label-attribute", default="", help="empty: detect it from the manifest")
    ap.add_argument("--splits", default="0.8,0.1,0.1", help="train,val,test ratios")
    ap.add_argument("--seed", default="0")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    try:
        manifest = find_manifest(Path(args.manifest))
        classes = [c.strip() for c in args.classes.split(",") if c.strip()]
        splits = tuple(float(x) for x in args.splits.split(","))
        report = convert_ground_truth_to_yolo(
            str(manifest), args.output, classes, label_attribute=args.label_attribute or None, splits=splits,
            seed=int(args.seed), progress=False, overwrite=True,
        )
    except (GtlabelError, ValueError) as exc:
        print(f"gtlabel convert failed: {exc}", file=sys.stderr)
        return 1
    print(f"gtlabel convert: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
