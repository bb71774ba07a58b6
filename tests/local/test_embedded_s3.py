"""The embedded S3 runs in a child process of its own (not on the service's GIL), started and stopped with the
service, and never outlives it, not even a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from gtlabel.aws import error_code
from gtlabel.errors import StorageError
from gtlabel.local.embedded_s3 import EmbeddedS3, OwnCalls
from gtlabel.local.output import S3Store, lean_s3_config


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_it_is_another_process_and_stops_with_its_owner() -> None:
    s3 = EmbeddedS3()
    endpoint = s3.start()
    try:
        assert s3.pid is not None and s3.pid != os.getpid() and s3.running
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket="embedded-check")
        client.put_object(Bucket="embedded-check", Key="a", Body=b"x")
        assert client.get_object(Bucket="embedded-check", Key="a")["Body"].read() == b"x"
    finally:
        pid = s3.pid
        s3.stop()
    assert pid is not None and _gone_within(pid, 5) and not s3.running


def test_the_service_does_not_load_moto_and_a_killed_service_leaves_no_s3(tmp_path: Path) -> None:
    """gtlabel serve's default S3: moto is not even imported in the service's process; after kill -9 of the
    service, its S3 child ends by itself (its stdin pipe closes)."""
    code = textwrap.dedent(f"""
        import sys, time
        from gtlabel.local import LocalService
        svc = LocalService(data_dir={str(tmp_path / "svc")!r}).start()
        s3 = svc.client("s3")
        s3.create_bucket(Bucket="serve-check")
        print(svc.s3_endpoint, "moto" in sys.modules, flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        endpoint, moto_loaded = proc.stdout.readline().split()
        assert moto_loaded == "False"
        port = endpoint.rsplit(":", 1)[1]
        owners = [int(p) for p in subprocess.run(["pgrep", "-f", "gtlabel.local.embedded_s3"], capture_output=True,
                                                 text=True).stdout.split()]
        children = [p for p in owners if _parent(p) == proc.pid]
        assert len(children) == 1, (owners, port)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert _gone_within(children[0], 10)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, IndexError, ValueError):
        return -1


# ----------------------------------------------------------------------------------------------- direct writes
_VOLATILE = {"date", "x-amzn-requestid", "last-modified", "x-amz-version-id"}  # per request


def _head(client: Any, bucket: str, key: str) -> dict[str, str]:
    headers = client.head_object(Bucket=bucket, Key=key)["ResponseMetadata"]["HTTPHeaders"]
    return {k: v for k, v in headers.items() if k not in _VOLATILE}


@pytest.fixture(scope="module")
def embedded() -> Iterator[tuple[EmbeddedS3, Any]]:
    s3 = EmbeddedS3()
    endpoint = s3.start()
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="svc-key",
                          aws_secret_access_key="svc-secret", config=lean_s3_config(4))
    try:
        yield s3, client
    finally:
        s3.stop()


def test_a_direct_write_stores_exactly_what_the_service_clients_put_object_stores(
        embedded: tuple[EmbeddedS3, Any]) -> None:
    """Objects written down the pipe are indistinguishable from the same objects PUT by the service's own boto3
    client: body, ETag, Content-Type, metadata, ACL, tags, versions; errors carry the same S3 code."""
    s3, client = embedded
    client.create_bucket(Bucket="direct-plain")
    client.create_bucket(Bucket="direct-versioned")
    client.put_bucket_versioning(Bucket="direct-versioned", VersioningConfiguration={"Status": "Enabled"})
    objects = [("wr/iteration-1/0/2026-12-07_05:00:00.json", '{"answers":[{"é":1}]}'.encode(), "application/json"),
               ("manifests/output/output.manifest", b'{"source-ref":"s3://b/k"}\n' * 2000, "application/x-ndjson"),
               ("empty.json", b"", "application/json"),
               ("big.bin", bytes(range(256)) * 12_000, "application/octet-stream")]
    for bucket in ("direct-plain", "direct-versioned"):
        for key, data, ct in objects:
            client.put_object(Bucket=bucket, Key=f"http/{key}", Body=data, ContentType=ct)
        results = s3.put_many([(bucket, f"direct/{key}", data, ct) for key, data, ct in objects],
                              access_key="svc-key", region="us-east-1")
        assert results == [None] * len(objects)
        for key, data, _ in objects:
            assert _head(client, bucket, f"direct/{key}") == _head(client, bucket, f"http/{key}")
            assert client.get_object(Bucket=bucket, Key=f"direct/{key}")["Body"].read() == data
            assert (client.get_object_acl(Bucket=bucket, Key=f"direct/{key}")["Grants"]
                    == client.get_object_acl(Bucket=bucket, Key=f"http/{key}")["Grants"])
            assert client.get_object_tagging(Bucket=bucket, Key=f"direct/{key}")["TagSet"] == []
    key, data, ct = objects[0]
    assert s3.put_many([("direct-versioned", f"direct/{key}", data + b" ", ct)], access_key="svc-key",
                       region="us-east-1") == [None]
    versions = client.list_object_versions(Bucket="direct-versioned", Prefix=f"direct/{key}")["Versions"]
    assert len(versions) == 2
    # a bucket that does not exist, and one whose default retention needs a checksum header the service's
    # client does not send: the same error codes as the client's PutObject gets
    client.create_bucket(Bucket="direct-locked", ObjectLockEnabledForBucket=True)
    client.put_object_lock_configuration(Bucket="direct-locked", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    errors = []
    for bucket in ("direct-missing", "direct-locked"):
        with pytest.raises(ClientError) as caught:
            client.put_object(Bucket=bucket, Key="k", Body=b"x", ContentType="application/json")
        errors.append(f"S3 error {error_code(caught.value)}")
    assert errors == ["S3 error NoSuchBucket", "S3 error MissingUploadObjectWithObjectLockHeaders"]
    assert s3.put_many([("direct-missing", "k", b"x", "application/json"), ("direct-plain", "ok", b"y", "text/plain"),
                        ("direct-locked", "k", b"x", "application/json")],
                       access_key="svc-key", region="us-east-1") == [errors[0], None, errors[1]]


def test_the_store_writes_down_the_pipe_in_frames_and_starts_no_writer_process(
        embedded: tuple[EmbeddedS3, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    s3, client = embedded
    client.create_bucket(Bucket="direct-store")
    frames: list[int] = []

    class Counted(OwnCalls):
        def put_many(self, items: Any) -> list[str | None]:
            frames.append(len(items))
            return super().put_many(items)

    store = S3Store(client, client_kwargs={"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"},
                    direct=Counted(s3, access_key="svc-key", region="us-east-1"))
    monkeypatch.setattr(S3Store, "DIRECT_FRAME_BYTES", 1000)
    items = [(f"s3://direct-store/wr/{i:03d}.json", b'{"i": %03d}' % i + b" " * 90, "application/json")
             for i in range(S3Store.POOL_MIN_BATCH * 3)]
    try:
        store.write_many(items)
        store.write_lines("s3://direct-store/out.manifest", [{"a": 1}, {"b": "é"}])
        assert store._pool is None  # no writer process: the endpoint given to them does not even answer
        with pytest.raises(StorageError, match=r"direct-missing/x\.json: S3 error NoSuchBucket"):
            store.write_many([items[0], ("s3://direct-missing/x.json", b"{}", "application/json")])
    finally:
        store.close()
    assert frames[:6] == [10] * 4 + [8, 1] and sum(frames[:5]) == len(items)  # 100 bytes each, 1,000 per frame
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="direct-store", Prefix="wr/")["Contents"]]
    assert keys == [f"wr/{i:03d}.json" for i in range(len(items))]
    assert client.get_object(Bucket="direct-store", Key="wr/007.json")["Body"].read() == items[7][1]
    assert client.get_object(Bucket="direct-store", Key="out.manifest")["Body"].read() == (
        '{"a":1}\n{"b":"é"}\n'.encode())


def test_exists_asks_the_pipe_first_and_http_for_a_miss(embedded: tuple[EmbeddedS3, Any]) -> None:
    """The engine's check of every data object at job start: an object that is there is found over the pipe
    (no HTTP request); a missing key, a delete marker or a missing bucket is asked over HTTP, so the answer (and
    any error) is the one HeadObject gives."""
    s3, client = embedded
    client.create_bucket(Bucket="direct-exists")
    client.put_bucket_versioning(Bucket="direct-exists", VersioningConfiguration={"Status": "Enabled"})
    for key in ("img/a.png", "img/ü b+c.png", "img/gone.png"):
        client.put_object(Bucket="direct-exists", Key=key, Body=b"x")
    client.delete_object(Bucket="direct-exists", Key="img/gone.png")  # leaves a delete marker
    calls = OwnCalls(s3, access_key="svc-key", region="us-east-1")
    asked = [("direct-exists", "img/a.png"), ("direct-exists", "img/ü b+c.png"), ("direct-exists", "img/gone.png"),
             ("direct-exists", "img/never.png"), ("direct-missing-bucket", "img/a.png")]
    assert calls.exists_many(asked) == [True, True, False, False, False]
    http: list[str] = []
    client.meta.events.register("before-send.s3.HeadObject", lambda request, **_: http.append(request.url))
    store = S3Store(client, direct=calls)
    assert [store.exists(f"s3://{b}/{k}") for b, k in asked] == [True, True, False, False, False]
    assert len(http) == 3  # the three misses only


def test_the_store_presigns_as_its_client_does_and_the_url_gets_the_image(
        embedded: tuple[EmbeddedS3, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Images are presigned without botocore for the embedded S3 (on the event loop, at every new claim): the
    same URL, byte for byte, as the service's client's generate_presigned_url at the same second, for awkward
    keys too; and the URL fetches the object."""
    s3, client = embedded
    calls = OwnCalls(s3, access_key="svc-key", region="us-east-1", secret_key="svc-secret")
    keys = ["img/a.png", "img/a b+c~d.png", "ü/ñ%20x?y#z&=.png", "a//b/./c/../d", "with'quote\"and<>", "dir/",
            "*star(paren)!$,;:@"]
    store = S3Store(client, direct=calls)
    for now in (1_800_000_000.0, 1_800_000_000.999):
        monkeypatch.setattr(time, "time", lambda now=now: now)
        for expires in (900, 60):
            for key in keys:
                ours = calls.presign_get("direct-presign", key, expires)
                assert ours == client.generate_presigned_url(
                    "get_object", Params={"Bucket": "direct-presign", "Key": key}, ExpiresIn=expires), key
    monkeypatch.undo()
    client.create_bucket(Bucket="direct-presign")
    client.put_object(Bucket="direct-presign", Key="img/a b+c~d.png", Body=b"pixels")
    http: list[str] = []
    client.meta.events.register("before-sign.s3.GetObject", lambda request, **_: http.append(request.url))
    url = store.presign("s3://direct-presign/img/a b+c~d.png", 900)
    assert http == []  # not botocore's
    assert requests.get(url, timeout=10).content == b"pixels"
    # without the secret key (or a started S3) the client presigns, as before
    assert OwnCalls(s3, access_key="svc-key", region="us-east-1").presign_get("b", "k", 60) is None


def test_a_write_to_a_child_that_died_is_a_storage_error() -> None:
    s3 = EmbeddedS3()
    s3.start()
    try:
        assert s3.pid is not None
        os.kill(s3.pid, signal.SIGKILL)
        with pytest.raises(StorageError, match="embedded S3 stopped"):
            s3.put_many([("b", "k", b"x", "application/json")], access_key="k", region="us-east-1")
    finally:
        s3.stop()
    with pytest.raises(StorageError, match="not running"):
        s3.put_many([("b", "k", b"x", "application/json")], access_key="k", region="us-east-1")
