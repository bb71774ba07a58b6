"""The engine's S3 store (local/output.py): batches of worker-response files."""

from __future__ import annotations

import pytest


def test_store_write_many_uses_writer_processes_for_big_batches(moto_server: str, bucket: str, s3: object) -> None:
    import boto3

    from gtlabel.errors import StorageError
    from gtlabel.local.output import S3Store

    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    store = S3Store(client, client_kwargs={"endpoint_url": moto_server, "region_name": "us-east-1",
                                           "aws_access_key_id": "testing", "aws_secret_access_key": "testing"})
    try:
        small = [(f"s3://{bucket}/small/{i}.json", b'{"i": %d}' % i, "application/json") for i in range(3)]
        store.write_many(small)
        assert store._pool is None  # a small batch is written in this process
        big = [(f"s3://{bucket}/wr/{i:03d}.json", b'{"i": %d}' % i, "application/json")
               for i in range(S3Store.POOL_MIN_BATCH * 3)]
        store.write_many(big)
        assert store._pool is not None
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="wr/")["Contents"]]  # type: ignore[attr-defined]
        assert keys == [f"wr/{i:03d}.json" for i in range(len(big))]
        body = s3.get_object(Bucket=bucket, Key="wr/007.json")["Body"].read()  # type: ignore[attr-defined]
        assert body == b'{"i": 7}'
        bad = [*big[:20], ("s3://no-such-bucket-gtlabel/x.json", b"{}", "application/json")]
        with pytest.raises(StorageError, match=r"no-such-bucket-gtlabel/x\.json"):
            store.write_many(bad)
    finally:
        store.close()
    assert store._pool is None
