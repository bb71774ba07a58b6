"""``gtlabel`` command line: parse, call the library, render. Thin on purpose.

Each area registers its commands from its own module (``cli/<area>.py``, function ``register(app)``), which
imports the library it calls at module level. Those modules load when one of their commands runs, not when the
CLI starts: :data:`COMMANDS` is the static table of every top-level command and the areas that add to it, and
:class:`LazyCommands` (click's documented lazy-loading group) imports an area on the first look-up of one of its
commands. ``gtlabel <command>`` therefore pays only for its own area (``import gtlabel.cli`` loads typer, rich and
the exit codes); ``gtlabel --help`` loads them all to show their help. tests/cli/test_cli_registry.py checks the
table against what each area registers, and that the start-up imports none of the library.
Exit codes: :class:`Exit` (defined in ``cli/_common.py`` with the helpers every area shares).
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from gtlabel.cli._common import Exit

__all__ = ["COMMANDS", "Exit", "LazyCommands", "app", "main"]

#: Every top-level command -> the area modules (``gtlabel.cli.<area>``) whose ``register`` adds to it, in the
#: order of ``--help`` (commands, then groups). An area may add to a group another area owns (``job``).
COMMANDS: dict[str, tuple[str, ...]] = {
    "estimate": ("jobs",),
    "convert": ("convert",),
    "serve": ("serve",),
    "report": ("quality",),
    "audit": ("quality",),
    "train": ("train",),
    "evaluate": ("train",),
    "preannotate": ("train",),
    "rank": ("train",),
    "demo": ("demo",),
    "job": ("jobs", "monitor"),
    "manifest": ("manifests",),
    "import": ("interchange",),
    "export": ("interchange", "geo"),
    "workers": ("workers",),
    "lineage": ("lineage",),
    "iam": ("iam",),
    "pipeline": ("train",),
}


#: What typer makes of a registered command or group.
Command = TyperCommand | TyperGroup


def area_commands(areas: tuple[str, ...]) -> dict[str, Command]:
    """The commands that the given area modules register (each module imported here, on first use)."""
    sub = typer.Typer()
    for area in areas:
        importlib.import_module(f"gtlabel.cli.{area}").register(sub)
    return {name: cmd for name, cmd in typer.main.get_group(sub).commands.items() if isinstance(cmd, Command)}


@functools.cache
def _load(name: str) -> Command:
    return area_commands(COMMANDS[name])[name]


class LazyCommands(TyperGroup):
    """The root group: lists :data:`COMMANDS` and loads a command's areas when click looks the command up."""

    # ctx: typer's own (vendored, private) click Context
    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.commands, *(name for name in COMMANDS if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            cmd = super().get_command(ctx, cmd_name)
            return cmd if isinstance(cmd, Command) else None
        return _load(cmd_name)


app = typer.Typer(
    name="gtlabel",
    cls=LazyCommands,
    help="Drone images in S3 -> Ground Truth bounding-box jobs (AWS or the local service) -> YOLO11 datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """The root group (its commands load from :data:`COMMANDS`)."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
