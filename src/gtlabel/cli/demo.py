"""``gtlabel demo``: the end-to-end workflow on the local service."""

from __future__ import annotations

from pathlib import Path

import typer

from gtlabel.cli._common import handle_errors
from gtlabel.demo import run_demo, train_available


def register(app: typer.Typer) -> None:
    @app.command("demo")
    @handle_errors
    def demo(
        out_dir: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Where results are written."),
        images: int = typer.Option(24, min=4, max=5000, help="Number of synthetic aerial images."),
        workers: int = typer.Option(3, min=1, max=9, help="Simulated workers per image."),
        train: bool = typer.Option(True, "--train/--no-train", help="Train YOLO11n (needs the train extra)."),
        epochs: int = typer.Option(3, min=1, help="Training epochs."),
        imgsz: int = typer.Option(320, min=32, help="Training image size."),
        seed: int = typer.Option(7, help="Seed of the synthetic images and the simulated workers."),
        interactive: bool = typer.Option(False, "--interactive", help="Label in the browser yourself instead."),
        browser: bool = typer.Option(True, "--browser/--no-browser",
                                     help="With --interactive, open the worker portal in your browser."),
        budget: float = typer.Option(25.0, help="Budget (USD) for the job; over it the job is refused."),
    ) -> None:
        """Run the whole workflow on the local service: images -> labeling job -> quality -> YOLO11 -> train."""
        if train and not train_available():
            typer.echo("note: the train extra is not installed; training is skipped", err=True)
        run_demo(out_dir, images=images, workers_per_object=workers, seed=seed, train=train and train_available(),
                 epochs=epochs, imgsz=imgsz, interactive=interactive, open_browser=browser, max_budget_usd=budget)
