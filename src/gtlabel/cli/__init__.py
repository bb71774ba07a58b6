"""``gtlabel`` command line: parse, call the library, render. Thin on purpose.

Each area registers its commands from its own module (``cli/<area>.py``, function ``register(app)``).
Exit codes are defined in :mod:`gtlabel.cli._common`.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="gtlabel",
    help="Drone images in S3 -> Ground Truth bounding-box jobs (AWS or the local service) -> YOLO11 datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# area modules, in the order their commands appear in --help
_AREAS = ("jobs", "manifests", "convert", "serve", "workers", "monitor", "quality", "lineage", "iam", "train", "demo")

for _area in _AREAS:
    importlib.import_module(f"gtlabel.cli.{_area}").register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
