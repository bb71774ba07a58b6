"""``gtlabel manifest build`` in-process (typer CliRunner)."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from gtlabel.cli import Exit, app

runner = CliRunner()


def test_manifest_build_local_folder_with_sampling(tmp_path: Path) -> None:
    for i in range(20):
        (tmp_path / "imgs").mkdir(exist_ok=True)
        (tmp_path / "imgs" / f"{i:02d}.JPG").write_bytes(b"\xff\xd8data")
    (tmp_path / "imgs" / "readme.md").write_text("x")
    dest = tmp_path / "in.manifest"
    res = runner.invoke(app, ["manifest", "build", str(tmp_path / "imgs"), str(dest), "--sample", "5", "--seed", "3"])
    assert res.exit_code == Exit.OK, res.output
    assert "wrote 5 line(s)" in res.output and "not sampled: 15" in res.output
    refs = [orjson.loads(x)["source-ref"] for x in dest.read_bytes().splitlines()]
    assert len(refs) == 5 and refs == sorted(refs) and all(r.startswith("imgs/") for r in refs)
    res = runner.invoke(app, ["manifest", "build", str(tmp_path / "imgs"), str(tmp_path / "j.manifest"),
                              "--suffix", ".md", "--json"])
    assert res.exit_code == Exit.OK and orjson.loads(res.output)["written"] == 1


def test_manifest_build_s3_and_errors(tmp_path: Path, s3: object, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="raw/a.png", Body=b"x")  # type: ignore[attr-defined]
    res = runner.invoke(app, ["manifest", "build", f"s3://{bucket}/raw/", f"s3://{bucket}/in.manifest"])
    assert res.exit_code == Exit.OK, res.output
    body = s3.get_object(Bucket=bucket, Key="in.manifest")["Body"].read()  # type: ignore[attr-defined]
    assert orjson.loads(body) == {"source-ref": f"s3://{bucket}/raw/a.png"}
    bad = tmp_path / "bad.manifest"
    bad.write_bytes(b'{"source-ref": "../x.jpg"}\n')
    res = runner.invoke(app, ["manifest", "build", str(bad), str(tmp_path / "o.manifest")])
    assert res.exit_code == Exit.INVALID and "bad.manifest:1" in res.output and "'..'" in res.output
    res = runner.invoke(app, ["manifest", "build", str(bad), str(tmp_path / "o.manifest"), "--lenient"])
    assert res.exit_code == Exit.OK and "wrote 0 line(s)" in res.output
    res = runner.invoke(app, ["manifest", "build", str(tmp_path / "missing"), str(tmp_path / "o.manifest")])
    assert res.exit_code == Exit.NOT_FOUND
