"""The CLI starts light: ``import gtlabel.cli`` loads no library module (each area loads when one of its commands
runs), and the static command table (:data:`gtlabel.cli.COMMANDS`) is what the areas register."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

from typer.testing import CliRunner

import gtlabel.cli
from gtlabel.cli import COMMANDS, area_commands

#: All that ``import gtlabel.cli`` may load of gtlabel: the lazy package, the exit codes and their error tree.
START_UP = {"gtlabel", "gtlabel._lazy", "gtlabel.cli", "gtlabel.cli._common", "gtlabel.errors"}
#: Third-party packages a command's area loads, never the start-up.
HEAVY = ("boto3", "botocore", "numpy", "PIL", "starlette", "uvicorn", "moto", "pydantic", "pydantic_settings",
         "yaml", "orjson", "sqlite3", "liquid", "httpx")


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_loads_no_library_module() -> None:
    code = ("import sys, gtlabel.cli\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('gtlabel') or m.split('.')[0] in "
            f"{HEAVY!r})))")
    loaded = set(_run(code).split())
    assert loaded - START_UP == set(), "loaded when the CLI starts: " + ", ".join(sorted(loaded - START_UP))


def test_a_command_loads_only_its_areas() -> None:
    code = ("import sys\n"
            "from typer.testing import CliRunner\n"
            "from gtlabel.cli import app\n"
            "result = CliRunner().invoke(app, ['estimate', '--objects', '10', '--json'])\n"
            "assert result.exit_code == 0, result.output\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('gtlabel.'))))")
    loaded = set(_run(code).split())
    assert "gtlabel.cli.jobs" in loaded  # estimate's area
    assert not loaded & {"gtlabel.cli.serve", "gtlabel.cli.monitor", "gtlabel.cli.train", "gtlabel.local",
                         "gtlabel.monitor", "gtlabel.model", "gtlabel.demo", "gtlabel.convert"}


def test_command_table_is_what_the_areas_register() -> None:
    areas = sorted(m.name for m in pkgutil.iter_modules(gtlabel.cli.__path__) if not m.name.startswith("_"))
    registered: dict[str, set[str]] = {}
    for area in areas:
        for name in area_commands((area,)):
            registered.setdefault(name, set()).add(area)
    # the group another area owns (job, created by jobs and by monitor) counts for each area adding to it
    assert registered == {name: set(owners) for name, owners in COMMANDS.items()}


def test_a_group_shared_by_areas_holds_every_areas_commands() -> None:
    job = area_commands(COMMANDS["job"])["job"]
    assert {"build", "validate", "watch", "list", "notify-rule"} <= set(job.commands)  # type: ignore[attr-defined]


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(gtlabel.cli.app, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output
