"""Machine-readable values in the CLI's output are never broken across lines when stdout is no terminal: `gtlabel serve`'s
banner (which then leaves out the export lines: they hold the secret key, and are in endpoints.json), error
messages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

LABELS = ("SageMaker API", "worker portal", "S3", "note", "workteam", "worker", "environment")


def test_banner_never_wraps_values_when_stdout_is_not_a_terminal(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("gtlabel")
    data_dir = tmp_path / "a-rather-long-data-directory-name-so-that-the-first-line-is-long-too"
    out = tmp_path / "banner.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TERM")}
    # the embedded S3 (default) prints the longest line, the note; a long team name makes a long worker line
    with out.open("wb") as stdout:
        proc = subprocess.Popen([str(exe), "serve", "--data-dir", str(data_dir), "--worker",
                                 "a-team-with-a-name-long-enough-to-reach-beyond-eighty-columns/ann:pw-ann-12345"],
                                stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 90
        while not (data_dir / "endpoints.json").exists():  # written after the banner is flushed
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        written = json.loads((data_dir / "endpoints.json").read_text())
    finally:
        proc.terminate()
        proc.wait(30)
    lines = out.read_text().splitlines()
    assert lines[0] == f"gtlabel local labeling service (state in {data_dir})"
    assert "\x1b" not in out.read_text()  # no colour codes in a file
    # the export lines hold the secret key: not written to a file or pipe (they are in endpoints.json, 0600)
    assert "Paste into your shell to point boto3 at it:" not in lines and not any("export " in x for x in lines)
    # every other line is a whole "  label : value" line: nothing was carried over to a line of its own
    for line in lines[1:]:
        assert re.match(rf"  ({'|'.join(map(re.escape, LABELS))}) +: \S", line), line
    fields = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in lines[1:]}
    env_vars = written["env"]
    assert fields["workteam"] == env_vars["GTLABEL_WORKTEAM_ARN"]
    assert fields["SageMaker API"] == env_vars["AWS_ENDPOINT_URL_SAGEMAKER"]
    assert fields["worker portal"] == written["portal_url"]
    assert fields["worker"] == "ann (team a-team-with-a-name-long-enough-to-reach-beyond-eighty-columns)"
    assert fields["note"].endswith("Use --s3-endpoint to keep them.")
    assert max(map(len, lines)) > 80  # the check above means something
    assert fields["environment"].startswith(f"{data_dir / 'endpoints.json'} (readable by you only")
    assert env_vars["AWS_SECRET_ACCESS_KEY"] not in out.read_text()


def test_error_messages_keep_paths_whole(tmp_path: Path) -> None:
    """An error names a file, URI or ARN: the CLI never breaks it across lines (rich wraps at 80 columns when
    stdout is not a terminal)."""
    from typer.testing import CliRunner

    from gtlabel.cli import app

    missing = tmp_path / ("a-folder-with-a-name-long-enough-to-pass-eighty-columns" * 2) / "output.manifest"
    res = CliRunner().invoke(app, ["convert", str(missing), str(tmp_path / "ds"), "--classes", "drone"])
    assert res.exit_code == 5
    assert f"{missing}: does not exist" in res.output, res.output
