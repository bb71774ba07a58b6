"""gtlabel.storage against a real S3 API (moto server) and the local disk."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gtlabel import storage
from gtlabel.errors import NotFound, StorageError


def test_join_and_parse() -> None:
    assert storage.join("s3://b/pre/", "a", "/b.txt") == "s3://b/pre/a/b.txt"
    assert storage.parse_s3("s3://bkt/k/e/y") == storage.S3Uri("bkt", "k/e/y")
    with pytest.raises(StorageError):
        storage.parse_s3("/local/path")
    with pytest.raises(StorageError):
        storage.parse_s3("s3:///key")


@pytest.mark.parametrize("where", ["local", "s3"])
def test_iter_lines_streams_bom_crlf_and_blank_lines(where: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    data = b"\xef\xbb\xbf{\"a\": 1}\r\n\r\n{\"b\": 2}\n   \n{\"c\": 3}"
    if where == "s3":
        bucket = request.getfixturevalue("bucket")
        uri = f"s3://{bucket}/m/in.manifest"
    else:
        uri = str(tmp_path / "in.manifest")
    storage.write_bytes(uri, data)
    assert list(storage.iter_lines(uri)) == [(1, b'{"a": 1}'), (3, b'{"b": 2}'), (5, b'{"c": 3}')]


def test_line_blocks_cross_chunk_boundaries(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    lines = [f"line-{i}-" + "x" * (i % 13) for i in range(200)]
    p.write_text("\n".join(lines) + "\n")
    got = [(n, b.decode()) for first, block in storage.iter_line_blocks(p, block_size=7)
           for n, b in storage.block_lines(first, block)]
    assert got == list(enumerate(lines, start=1))
    assert [b.decode() for _, b in storage.iter_lines(p)] == lines


def test_local_atomic_writer_leaves_nothing_on_error(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    storage.write_text(target, "old")
    with pytest.raises(RuntimeError), storage.atomic_writer(target) as fh:
        fh.write(b"partial new content")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]  # no temp file left behind


def test_s3_atomic_writer_leaves_old_object_on_error(bucket: str, s3) -> None:  # type: ignore[no-untyped-def]
    uri = f"s3://{bucket}/a/b.json"
    storage.write_text(uri, "old")
    with pytest.raises(RuntimeError), storage.atomic_writer(uri) as fh:
        fh.write(b"half")
        raise RuntimeError("boom")
    assert storage.read_text(uri) == "old"


def test_s3_multipart_write_completes(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTLABEL_MULTIPART_THRESHOLD_MB", "5")
    try:
        uri = f"s3://{bucket}/big.bin"
        payload = os.urandom(11 << 20)
        storage.write_bytes(uri, payload)
        info = storage.head(uri)
        assert info.size == len(payload)
        assert info.etag and "-" in info.etag  # a completed multipart upload's ETag
        assert storage.read_bytes(uri) == payload
    finally:
        monkeypatch.delenv("GTLABEL_MULTIPART_THRESHOLD_MB")


def test_list_objects_filters_and_order(bucket: str, tmp_path: Path) -> None:
    for name, size in [("b/2.JPG", 10), ("b/1.png", 20), ("b/x.txt", 5), ("b/big.jpeg", 500), ("c/3.jpg", 1)]:
        storage.write_bytes(f"s3://{bucket}/{name}", b"x" * size)
        storage.write_bytes(tmp_path / name, b"x" * size)
    got = [o.uri for o in storage.list_objects(f"s3://{bucket}/b/", suffixes=["jpg", ".png", "jpeg"], max_size=100)]
    assert got == [f"s3://{bucket}/b/1.png", f"s3://{bucket}/b/2.JPG"]
    local = [Path(o.uri).name for o in storage.list_objects(tmp_path / "b", suffixes=[".jpg", ".png"])]
    assert local == ["1.png", "2.JPG"]
    with pytest.raises(NotFound):
        list(storage.list_objects(tmp_path / "missing"))


def test_copy_many_s3_to_s3_and_local(bucket: str, tmp_path: Path) -> None:
    pairs = []
    for i in range(40):
        src = f"s3://{bucket}/src/{i:03d}.jpg"
        storage.write_bytes(src, f"img{i}".encode())
        pairs.append((src, f"s3://{bucket}/dst/{i:03d}.jpg"))
    seen: list[str] = []
    assert storage.copy_many(pairs, max_workers=8, on_done=lambda s, d: seen.append(d)) == 40
    assert sorted(seen) == sorted(d for _, d in pairs)
    assert storage.read_bytes(f"s3://{bucket}/dst/017.jpg") == b"img17"
    storage.copy(f"s3://{bucket}/dst/017.jpg", tmp_path / "l" / "17.jpg")
    assert (tmp_path / "l" / "17.jpg").read_bytes() == b"img17"
    storage.copy(tmp_path / "l" / "17.jpg", f"s3://{bucket}/back/17.jpg")
    assert storage.read_bytes(f"s3://{bucket}/back/17.jpg") == b"img17"


def test_s3_copy_is_one_copy_object_and_falls_back_to_the_managed_copy(bucket: str) -> None:
    """S3 -> S3: one CopyObject request per object (no HeadObject); a source S3 refuses to copy in one request
    (over 5 GB: InvalidRequest) goes through the managed, multipart-capable copy instead."""
    storage.write_bytes(f"s3://{bucket}/a.jpg", b"img")
    cli = storage.s3_client()
    calls: list[str] = []
    refuse = [True]

    def spy(model: Any, **_kw: Any) -> Any:
        calls.append(model.name)
        if model.name == "CopyObject" and refuse and refuse.pop():
            return (SimpleNamespace(status_code=400, headers={}), {"Error": {"Code": "InvalidRequest", "Message": "too large"}})
        return None

    cli.meta.events.register("before-call.s3.*", spy)
    try:
        refuse.clear()
        storage.copy(f"s3://{bucket}/a.jpg", f"s3://{bucket}/b.jpg")
        assert calls == ["CopyObject"]
        calls.clear()
        refuse.append(True)
        storage.copy(f"s3://{bucket}/a.jpg", f"s3://{bucket}/c.jpg")
        assert calls[0] == "CopyObject" and "HeadObject" in calls[1:]  # refused, then the managed copy
    finally:
        cli.meta.events.unregister("before-call.s3.*", spy)
    assert storage.read_bytes(f"s3://{bucket}/c.jpg") == b"img"


def test_copy_many_in_place_for_a_staging_folder(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "dst").mkdir()
    pairs = [(str(tmp_path / "src" / f"{i}.jpg"), str(tmp_path / "dst" / f"{i}.jpg")) for i in range(5)]
    for i, (src, _) in enumerate(pairs):
        Path(src).write_bytes(b"x" * i)
    assert storage.copy_many(pairs, atomic=False) == 5
    assert [Path(d).read_bytes() for _, d in pairs] == [b"x" * i for i in range(5)]
    assert sorted(p.name for p in (tmp_path / "dst").iterdir()) == [f"{i}.jpg" for i in range(5)]  # no temp files
    with pytest.raises(NotFound, match="missing"):
        storage.copy_many([(str(tmp_path / "missing.jpg"), str(tmp_path / "dst" / "m.jpg"))], atomic=False)


def test_copy_many_raises_first_error(bucket: str) -> None:
    pairs = [(f"s3://{bucket}/nope/{i}", f"s3://{bucket}/d/{i}") for i in range(3)]
    with pytest.raises(StorageError):
        storage.copy_many(pairs, max_workers=2)


def test_missing_objects_raise_not_found(bucket: str, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"missing\.json"):
        storage.read_bytes(f"s3://{bucket}/missing.json")
    with pytest.raises(NotFound):
        storage.read_bytes(tmp_path / "missing.json")
    assert not storage.exists(f"s3://{bucket}/missing.json")
    with pytest.raises(NotFound):
        list(storage.iter_lines(f"s3://{bucket}/missing.json"))


def test_endpoint_comes_from_standard_env_var(bucket: str, s3_endpoint: str) -> None:
    client = storage.s3_client()
    assert client.meta.endpoint_url == s3_endpoint


def _only_aws_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, config: str = "",
                    credentials: str = "") -> None:
    """boto3 sees only these config/credentials files: no AWS_* keys, region or profile, no instance metadata."""
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "config").write_text(config)
    (tmp_path / "credentials").write_text(credentials)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    storage.reset_clients()


def test_region_profile_and_keys_are_resolved_by_boto3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Region and credentials come from boto3's own chain (env vars, AWS_PROFILE with a config/credentials file),
    and a change after the first call is seen (the client cache is keyed on them)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert storage.s3_client().meta.region_name == "eu-west-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    assert storage.s3_client().meta.region_name == "ap-southeast-2"
    _only_aws_files(monkeypatch, tmp_path, config="[profile drones]\nregion = eu-central-1\n",
                    credentials="[drones]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n")
    monkeypatch.setenv("AWS_PROFILE", "drones")
    cli = storage.s3_client()
    assert cli.meta.region_name == "eu-central-1"
    assert cli._request_signer._credentials.access_key == "AKIDPROFILE"
    storage.reset_clients()


def test_presign_gives_working_url(bucket: str) -> None:
    import urllib.request

    storage.write_bytes(f"s3://{bucket}/p/img.jpg", b"pixels")
    url = storage.presign(f"s3://{bucket}/p/img.jpg", expires_in=60)
    with urllib.request.urlopen(url) as resp:  # loopback moto server
        assert resp.read() == b"pixels"


def test_private_json_is_owner_only_and_atomic(tmp_path: Path) -> None:
    import json
    import stat

    target = tmp_path / "svc" / "credentials.json"
    storage.write_private_json(target, {"secret_key": "s1"})
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    storage.write_private_json(target, {"secret_key": "s2"})
    assert json.loads(target.read_text()) == {"secret_key": "s2"}
    assert [p.name for p in target.parent.iterdir()] == ["credentials.json"]  # no temp file left behind


def test_no_credentials_is_a_storage_error_naming_the_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _only_aws_files(monkeypatch, tmp_path)  # empty files: no credentials anywhere
    try:
        with pytest.raises(StorageError, match=r"s3://some-bucket/a\.jpg: cannot reach S3 \(NoCredentialsError"):
            storage.head("s3://some-bucket/a.jpg")
    finally:
        storage.reset_clients()
