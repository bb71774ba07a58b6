"""Benchmark: copying images between S3 prefixes: gtlabel.storage.copy_many vs ``aws s3 cp --recursive``.

    .venv/bin/python bench/bench_copy.py                 # 10,000 objects
    .venv/bin/python bench/bench_copy.py --objects 1000  # quick

Both run in the same session against the same local S3 endpoint: moto's server, started here as its own
process (``moto_server``) so that neither client shares a process with it. Each copies the same
``--objects`` small JPEG-sized objects from ``src/`` to its own prefix, server-side (CopyObject), listing
included. awscli is the one in the project venv (``.venv/bin/aws``) with ``--endpoint-url``; its default
concurrency (10 threads) is kept, as a user would run it. gtlabel uses its default
(``GTLABEL_MAX_CONCURRENCY``, 32). Target: gtlabel objects/s >= awscli's. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import urllib.request

    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("moto_server exited")
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=2)
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("moto_server did not start")


def count(cli: object, bucket: str, prefix: str) -> int:
    n = 0
    for page in cli.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):  # type: ignore[attr-defined]
        n += len(page.get("Contents", []))
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=24_000, help="bytes per object (a small JPEG)")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds; the best of each is reported")
    ap.add_argument("--workers", type=int, default=None, help="gtlabel threads (default GTLABEL_MAX_CONCURRENCY)")
    args = ap.parse_args()

    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        env.pop(k, None)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_up(url, server)
        os.environ.update(env)
        os.environ["AWS_ENDPOINT_URL_S3"] = url
        import boto3

        from gtlabel import storage

        storage.reset_clients()
        cli = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        bucket = "bench-copy"
        cli.create_bucket(Bucket=bucket)
        body = b"\xff\xd8\xff\xe0" + os.urandom(args.size - 6) + b"\xff\xd9"
        t0 = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: cli.put_object(Bucket=bucket, Key=f"src/flight-{i % 20:02d}/img_{i:06d}.jpg",
                                                   Body=body), range(args.objects)))
        print(f"uploaded {args.objects} objects of {args.size} bytes in {time.perf_counter() - t0:.1f}s",
              file=sys.stderr)

        ours: list[float] = []
        theirs: list[float] = []
        for r in range(args.rounds):
            # awscli
            dst_aws = f"dst-aws-{r}/"
            t0 = time.perf_counter()
            subprocess.run([str(BIN / "aws"), "s3", "cp", "--recursive", f"s3://{bucket}/src/",
                            f"s3://{bucket}/{dst_aws}", "--endpoint-url", url, "--only-show-errors"],
                           check=True, env={**env, "AWS_ENDPOINT_URL_S3": url})
            theirs.append(time.perf_counter() - t0)
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            print(f"awscli CPU (children total) {ru.ru_utime + ru.ru_stime:.2f}s", file=sys.stderr)
            assert count(cli, bucket, dst_aws) == args.objects
            # gtlabel: storage.copy_many, the copy path convert_ground_truth_to_yolo uses for images (one
            # CopyObject each)
            dst = f"s3://{bucket}/dst-gtlabel-{r}/"
            t0 = time.perf_counter()
            pairs = ((info.uri, dst + info.uri.split("/src/", 1)[1])
                     for info in storage.list_objects(f"s3://{bucket}/src/"))
            c0 = time.process_time()
            n = storage.copy_many(pairs, max_workers=args.workers)
            ours.append(time.perf_counter() - t0)
            print(f"gtlabel client CPU {time.process_time() - c0:.2f}s", file=sys.stderr)
            assert n == args.objects and count(cli, bucket, f"dst-gtlabel-{r}/") == args.objects

        best, tbest = min(ours), min(theirs)
        print(f"\n### S3 -> S3 copy of {args.objects:,} objects ({args.size:,} bytes each), local moto server\n")
        print("| client | seconds | objects/s |")
        print("| --- | ---: | ---: |")
        print(f"| gtlabel storage.copy_many (server-side CopyObject) | {best:.2f} | {args.objects / best:,.0f} |")
        print(f"| aws s3 cp --recursive (awscli, same endpoint) | {tbest:.2f} | {args.objects / tbest:,.0f} |")
        ratio = tbest / best
        print(f"\ngtlabel/awscli speed: **{ratio:.2f}x** (target >= 1: {'met' if ratio >= 1 else 'NOT met'})")
        print(f"all runs: gtlabel {[round(x, 2) for x in ours]}, awscli {[round(x, 2) for x in theirs]}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
