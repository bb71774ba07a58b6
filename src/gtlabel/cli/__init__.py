"""``gtlabel`` command line: parse, call the library, render. Thin on purpose.

Each area registers its commands from its own module (``cli/<area>.py``, function ``register(app)``).
Exit codes: :class:`Exit` (defined in ``cli/_common.py`` with the helpers every area shares).
"""

from __future__ import annotations

import typer

from gtlabel.cli import convert, demo, iam, jobs, lineage, manifests, monitor, quality, serve, train, workers
from gtlabel.cli._common import Exit

__all__ = ["Exit", "app", "main"]

app = typer.Typer(
    name="gtlabel",
    help="Drone images in S3 -> Ground Truth bounding-box jobs (AWS or the local service) -> YOLO11 datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# area modules, in the order their commands appear in --help
for _area in (jobs, manifests, convert, serve, workers, monitor, quality, lineage, iam, train, demo):
    _area.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
