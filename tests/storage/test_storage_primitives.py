"""The primitives callers used to go around gtlabel.storage for: ranged reads, version-aware head and get, prefix
deletes; the one local/S3 dispatch; and pointing storage at an endpoint or a client without the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtlabel import storage
from gtlabel.errors import NotFound, StorageError
from gtlabel.storage.local import LocalBackend
from gtlabel.storage.s3 import S3Backend

DATA = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture(params=["local", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A base URI: a local folder, or a prefix in a fresh moto bucket."""
    if request.param == "s3":
        return f"s3://{request.getfixturevalue('bucket')}/base"
    return str(tmp_path / "base")


def test_one_dispatch_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(storage.backend("s3://b/k"), S3Backend)
    assert isinstance(storage.backend(str(tmp_path / "k")), LocalBackend)
    assert isinstance(storage.backend(tmp_path / "k"), LocalBackend)


def test_read_range(where: str) -> None:
    uri = storage.join(where, "img.bin")
    storage.write_bytes(uri, DATA)
    part = storage.read_range(uri, 0, 100)
    assert part.data == DATA[:100] and part.info.size == len(DATA) and not part.complete
    assert storage.read_range(uri, 5000, 10).data == DATA[5000:5010]
    tail = storage.read_range(uri, 10_000)
    assert tail.data == DATA[10_000:] and tail.complete
    whole = storage.read_range(uri, 0, 1 << 20)  # more than there is: the whole object
    assert whole.data == DATA and whole.complete
    past = storage.read_range(uri, len(DATA) + 5, 10)
    assert past.data == b"" and past.info.size == len(DATA)
    if storage.is_s3(uri):
        assert part.info.etag == storage.head(uri).etag  # the same request says which object it read
    empty = storage.join(where, "empty.bin")
    storage.write_bytes(empty, b"")
    assert storage.read_range(empty, 0, 10).data == b"" and storage.read_range(empty, 0, 10).complete
    with pytest.raises(NotFound):
        storage.read_range(storage.join(where, "missing.bin"), 0, 10)
    with pytest.raises(StorageError, match="range"):
        storage.read_range(uri, -1, 10)


def test_version_aware_head_and_get(bucket: str, s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    uri = f"s3://{bucket}/lineage/img.jpg"
    storage.write_bytes(uri, b"first")
    v1 = storage.head(uri).version_id
    storage.write_bytes(uri, b"second!")
    v2 = storage.head(uri).version_id
    assert v1 and v2 and v1 != v2
    assert storage.read_bytes(uri) == b"second!"
    assert storage.read_bytes(uri, version_id=v1) == b"first"
    with storage.open_read(uri, version_id=v1) as fh:
        assert fh.read() == b"first"
    old = storage.head(uri, version_id=v1)
    assert (old.size, old.version_id) == (5, v1)
    assert storage.read_range(uri, 1, 3, version_id=v1).data == b"irs"
    with pytest.raises(NotFound, match="version"):
        storage.head(uri, version_id="not-a-version")
    with pytest.raises(NotFound, match="version"):
        storage.read_bytes(uri, version_id="not-a-version")


def test_head_reports_server_side_encryption(bucket: str, s3: Any, s3_endpoint: str) -> None:
    key = boto3.client("kms", endpoint_url=s3_endpoint, region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    with storage.encrypt_with(key):
        storage.write_bytes(f"s3://{bucket}/enc.txt", b"x")
    storage.write_bytes(f"s3://{bucket}/plain.txt", b"x")
    assert storage.head(f"s3://{bucket}/enc.txt").sse == "aws:kms"
    assert storage.head(f"s3://{bucket}/plain.txt").sse in (None, "AES256")


def test_local_files_have_no_versions(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_bytes(b"a")
    with pytest.raises(StorageError, match="no versions"):
        storage.read_bytes(p, version_id="v1")
    with pytest.raises(StorageError, match="no versions"):
        storage.head(p, version_id="v1")


def test_delete_prefix(where: str) -> None:
    for name in ("ds/data.yaml", "ds/images/train/a.jpg", "ds/labels/train/a.txt", "ds2/keep.txt", "other.txt"):
        storage.write_bytes(storage.join(where, name), b"x")
    assert storage.delete_prefix(storage.join(where, "ds") + ("/" if storage.is_s3(where) else "")) == 3
    left = sorted(o.uri for o in storage.list_objects(where))
    assert left == sorted(storage.join(where, n) for n in ("ds2/keep.txt", "other.txt"))
    assert storage.delete_prefix(storage.join(where, "nothing-here") + "/") == 0


def _put_in_moto(bucket: str, keys: list[str], body: bytes) -> None:
    """Objects put straight into the session moto server's store (it runs in this process): the test is about
    listing and deleting more than one page, not about a thousand uploads (17 s through the API, 3 calls each)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        backend.put_object(bucket, key, body)


def test_delete_prefix_in_pages_of_a_thousand(bucket: str) -> None:
    _put_in_moto(bucket, [f"many/{i:05d}.txt" for i in range(1000)], b"x")
    storage.copy_many((__file__, f"s3://{bucket}/many/{i:05d}.txt") for i in range(1000, 1005))
    assert sum(1 for _ in storage.list_objects(f"s3://{bucket}/many/")) == 1005  # all of them seen over the API
    assert storage.delete_prefix(f"s3://{bucket}/many/") == 1005
    assert list(storage.list_objects(f"s3://{bucket}/many/")) == []


def test_delete_prefix_names_a_key_s3_refused(bucket: str, s3: Any) -> None:
    storage.write_bytes(f"s3://{bucket}/p/a.txt", b"x")

    class Refusing:
        """A client whose DeleteObjects answers 200 with per-key errors, as S3 does for a denied key."""

        def __init__(self, real: Any) -> None:
            self.real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def delete_objects(self, **kw: Any) -> dict[str, Any]:
            keys = kw["Delete"]["Objects"]
            return {"Errors": [{"Key": k["Key"], "Code": "AccessDenied", "Message": "denied"} for k in keys]}

    with storage.use_client(Refusing(s3)), pytest.raises(StorageError, match=r"p/a\.txt.*AccessDenied"):
        storage.delete_prefix(f"s3://{bucket}/p/")


def test_local_delete_prefix_wants_a_folder(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"x")
    with pytest.raises(StorageError, match="folder"):
        storage.delete_prefix(tmp_path / "f.txt")


# ----------------------------------------------------------------------------------------------- targets
def _no_endpoint_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    storage.reset_clients()


def test_use_endpoint_points_storage_without_the_environment(moto_server: str, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    _no_endpoint_env(monkeypatch)
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket="target-test")
    before = dict(os.environ)
    with storage.use_endpoint(moto_server, ("testing", "testing"), region="us-east-1") as target:
        assert dict(os.environ) == before  # nothing process-wide besides storage changed
        assert storage.s3_client().meta.endpoint_url == moto_server
        storage.write_bytes("s3://target-test/a.txt", b"hello")
        seen: list[bytes] = []
        t = threading.Thread(target=lambda: seen.append(storage.read_bytes("s3://target-test/a.txt")))
        t.start()
        t.join()
        assert seen == [b"hello"]  # other threads (the converter's probes, simulated workers) see it too
        assert storage.current_target() is target
        assert "testing" not in repr(target)
    assert storage.current_target() is None
    assert storage.s3_client().meta.endpoint_url != moto_server


def test_targets_nest_and_restore(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_endpoint_env(monkeypatch)
    outer_client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    with storage.use_client(outer_client) as outer:
        assert storage.s3_client() is outer_client
        with storage.use_endpoint(moto_server, ("testing", "testing")) as inner:
            assert storage.current_target() is inner and storage.s3_client() is not outer_client
        assert storage.current_target() is outer and storage.s3_client() is outer_client
    assert storage.current_target() is None


def test_child_env_hands_the_target_to_a_worker_process(moto_server: str, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    """A child process (the converter's workers) reaches the same S3 through the environment it is given."""
    _no_endpoint_env(monkeypatch)
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket="child-test")
    assert storage.child_env() == {}
    with storage.use_endpoint(moto_server, ("testing", "testing"), region="us-east-1"):
        storage.write_bytes("s3://child-test/m.txt", b"from the parent")
        env = {**os.environ, **storage.child_env()}
        assert env["AWS_ENDPOINT_URL_S3"] == moto_server and env["AWS_ACCESS_KEY_ID"] == "testing"
    code = "from gtlabel import storage; print(storage.read_text('s3://child-test/m.txt'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "from the parent"


@given(st.lists(st.text(alphabet="ab./\\ ", min_size=0, max_size=8), min_size=1, max_size=4))
def test_local_join_is_what_pathlib_gives(pieces: list[str]) -> None:
    """storage.join's os.path.join shortcut for plain pieces gives Path's string for every piece (dots, empty
    pieces, double and trailing slashes included)."""
    assert storage.join(pieces[0], *pieces[1:]) == str(Path(pieces[0], *pieces[1:]))


def test_read_file_whole_or_a_head(tmp_path: Path) -> None:
    """storage.read_file (os.read, for many small files): the whole file, its first ``limit`` bytes, errors raised."""
    big = bytes(range(256)) * 1500  # 384,000 bytes: several reads
    (tmp_path / "big").write_bytes(big)
    (tmp_path / "empty").write_bytes(b"")
    assert storage.read_file(str(tmp_path / "big")) == big
    assert storage.read_file(str(tmp_path / "big"), 70_000) == big[:70_000]
    assert storage.read_file(str(tmp_path / "big"), 10) == big[:10]
    assert storage.read_file(str(tmp_path / "empty")) == b""
    with pytest.raises(FileNotFoundError):
        storage.read_file(str(tmp_path / "missing"))
