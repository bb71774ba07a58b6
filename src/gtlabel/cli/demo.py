"""``gtlabel demo``: the end-to-end workflow on the local service."""

from __future__ import annotations

from pathlib import Path

import typer

from gtlabel.cli._common import handle_errors
from gtlabel.demo import DEMO_EPOCHS, DEMO_FRAME, DEMO_OVERLAP, DEMO_TILE, run_demo, train_available
from gtlabel.errors import ConfigError


def parse_frame(text: str) -> tuple[int, int]:
    """``"1600x1200"`` -> ``(1600, 1200)``; anything else is a ConfigError naming the option."""
    w, sep, h = text.lower().partition("x")
    if not (sep and w.strip().isdigit() and h.strip().isdigit()):
        raise ConfigError(f"--frame: expected WIDTHxHEIGHT such as 1600x1200, got {text!r}")
    return int(w), int(h)


def register(app: typer.Typer) -> None:
    @app.command("demo")
    @handle_errors
    def demo(
        out_dir: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Where results are written."),
        images: int = typer.Option(24, min=4, max=5000, help="Number of synthetic aerial images."),
        workers: int = typer.Option(3, min=1, max=9, help="Simulated workers per image."),
        train: bool = typer.Option(True, "--train/--no-train", help="Train YOLO11n (needs the train extra)."),
        frame: str = typer.Option(f"{DEMO_FRAME[0]}x{DEMO_FRAME[1]}", help="Frame size WIDTHxHEIGHT (drone scale: "
                                  "up to 4000x3000 and more; objects stay 8-40 px)."),
        tile: int = typer.Option(DEMO_TILE, min=32, help="Tile side (px) of the training set and sliced inference."),
        overlap: float = typer.Option(DEMO_OVERLAP, min=0.0, max=0.9, help="Overlap of neighbouring tiles (share)."),
        epochs: int = typer.Option(DEMO_EPOCHS, min=1, help="Training epochs."),
        imgsz: int | None = typer.Option(None, min=32, help="Training image size (default: the tile side)."),
        seed: int = typer.Option(7, help="Seed of the synthetic images and the simulated workers."),
        interactive: bool = typer.Option(False, "--interactive", help="Label in the browser yourself instead."),
        browser: bool = typer.Option(True, "--browser/--no-browser",
                                     help="With --interactive, open the worker portal in your browser."),
        budget: float = typer.Option(25.0, help="Budget (USD) for the job; over it the job is refused."),
    ) -> None:
        """Run the whole workflow on the local service: drone-scale frames -> labeling job -> quality -> YOLO11
        dataset and tiles -> train on tiles -> evaluate on full frames (sliced)."""
        size = parse_frame(frame)
        if train and not train_available():
            typer.echo("note: the train extra is not installed; training is skipped", err=True)
        run_demo(out_dir, images=images, frame=size, tile=tile, overlap=overlap, workers_per_object=workers, seed=seed,
                 train=train and train_available(), epochs=epochs, imgsz=imgsz, interactive=interactive, open_browser=browser, max_budget_usd=budget)
