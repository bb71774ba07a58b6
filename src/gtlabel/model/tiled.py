"""Train on tiles, evaluate on full frames: ``gtlabel train --tile`` in one call.

A drone frame (4000x3000) shrunk to ``imgsz=640`` loses its 20 px vehicles. :func:`train_on_tiles` converts a
Ground Truth output manifest twice with the same split salt: into a tiled dataset (``tile=``: each tile in its
frame's split, :mod:`gtlabel.convert`) that the model trains on at ``imgsz`` = the tile side (objects keep
their pixels), and into a dataset of the full frames whose ``test`` split the trained model is evaluated on
with sliced inference (:func:`gtlabel.model.evaluate.evaluate`), so the numbers are about whole frames, as the
model will meet them. ``train_yolo`` itself takes a tiled dataset as it takes any YOLO dataset.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gtlabel import storage
from gtlabel.convert import convert_ground_truth_to_yolo
from gtlabel.convert.report import ConversionReport
from gtlabel.errors import ConfigError
from gtlabel.model.evaluate import EvalResult, evaluate
from gtlabel.model.train import TrainResult, train_yolo
from gtlabel.tiling import TileSpec

__all__ = ["TiledRun", "train_on_tiles"]


@dataclass
class TiledRun:
    """What :func:`train_on_tiles` made: the two datasets' conversion reports, the training run, and the
    evaluation on the full frames of the test split."""

    tiles_dir: Path
    frames_dir: Path
    tiles: ConversionReport
    frames: ConversionReport | None  # None when an existing full-frame dataset was used
    train: TrainResult
    evaluation: EvalResult


def train_on_tiles(
    manifest: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    class_mapping: Mapping[Any, Any] | Sequence[str] | None = None,
    *,
    tile: TileSpec,
    frames_dir: str | os.PathLike[str] | None = None,
    splits: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    model: str | os.PathLike[str] = "yolo11n.yaml",
    epochs: int = 50,
    imgsz: int | None = None,
    batch: int = 16,
    device: str = "cpu",
    overwrite: bool = False,
    progress: bool = True,
    verbose: bool = True,
    extra_args: Mapping[str, Any] | None = None,
    on_epoch: Callable[[int, int], None] | None = None,
    convert_args: Mapping[str, Any] | None = None,
) -> TiledRun:
    """Convert ``manifest`` (a Ground Truth output manifest) into tiles, train on them, evaluate on full frames.

    ``out_dir`` (local) receives ``tiles/`` (the tiled dataset), ``frames/`` (the full frames, unless
    ``frames_dir`` names a full-frame dataset converted from the same manifest with the same ``splits`` and
    ``seed``), ``runs/train`` and ``runs/evaluate``. The model trains at ``imgsz`` (default: the tile side) and
    is evaluated on the full test frames sliced into tiles of the tile size with the tile overlap.
    ``convert_args`` passes other :func:`convert_ground_truth_to_yolo` arguments to both conversions.
    """
    if storage.is_s3(str(out_dir)):
        raise ConfigError(f"out_dir must be a local folder, got {out_dir}")
    tile_w, tile_h = tile.tile_size
    size = imgsz or max(tile_w, tile_h)
    out = Path(out_dir).expanduser().resolve()
    common: dict[str, Any] = {**(convert_args or {}), "splits": splits, "seed": seed, "progress": progress,
                              "overwrite": overwrite}
    tiles_dir = out / "tiles"
    tiles = convert_ground_truth_to_yolo(manifest, str(tiles_dir), class_mapping, tile=tile, **common)
    frames: ConversionReport | None = None
    if frames_dir is None:
        frames_path = out / "frames"
        frames = convert_ground_truth_to_yolo(manifest, str(frames_path), class_mapping, **common)
    else:
        frames_path = Path(frames_dir).expanduser().resolve()
    tr = train_yolo(tiles_dir, model, epochs=epochs, imgsz=size, batch=batch, device=device, seed=seed,
                    project=out / "runs", name="train", exist_ok=True, verbose=verbose, extra_args=extra_args,
                    on_epoch=on_epoch)
    ev = evaluate(tr.weights, frames_path, split="test", imgsz=size, batch=batch, device=device,
                  slice=(tile_w, tile_h), overlap=tile.overlap, project=out / "runs", name="evaluate",
                  exist_ok=True, verbose=verbose)
    return TiledRun(tiles_dir, frames_path, tiles, frames, tr, ev)
