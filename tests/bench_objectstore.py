"""The lake on object storage vs on local disk (issue 22 target: S3 ÷ local ≤ 1.3×).

1. The same raw OTLP/JSON files, on local disk and uploaded to a bucket (untimed).
2. An S3-compatible server on localhost, in its own process: moto's standalone server
   (the only one installable here). It is a Python server sharing the box's cores with
   the ingest, so its own CPU is counted in the S3 side's time: a real object store's
   is not, and its network latency is. Read the ratio as the cost of the fsspec/s3fs
   path (requests, copies, conditional puts), not of a particular store.
3. `fleetledger ingest` of those files into a fresh local data dir, and into a fresh
   prefix of the bucket (`--data-dir s3://…`), interleaved, `repeats` times; medians.
   The same command, the same worker processes; only the data dir differs.

Run: python -m tests.bench_objectstore [--files 4] [--calls-per-file 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from tests.bench_cluster import make_raw_files
from tests.benchkit import ratio, record

TARGET_RATIO = 1.3
FLEETLEDGER = Path(sys.executable).with_name("fleetledger")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def s3_server() -> Iterator[tuple[dict[str, str], Callable[[], float]]]:
    """moto's standalone S3 server in its own process; the AWS environment that reaches
    it, and a function giving the CPU seconds the server has used so far."""
    port = _free_port()
    server = subprocess.Popen(
        [Path(sys.executable).with_name("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("moto_server did not start in 30 s") from None
                time.sleep(0.2)
        cpu = psutil.Process(server.pid)
        yield env, lambda: sum(cpu.cpu_times()[:4])  # user + system, its threads' too
    finally:
        server.terminate()
        server.wait(30)


def _ingest(data_dir: str, raw: str, config: Path, reports: Path, env: dict) -> float:
    """`fleetledger ingest` of `raw` into `data_dir`; its wall time."""
    started = time.perf_counter()
    done = subprocess.run(
        [FLEETLEDGER, "ingest", raw, "--data-dir", data_dir, "--config-dir", config,
         "--reports-dir", reports],
        env=env, capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"ingest into {data_dir} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def bench_objectstore(root: Path, files: int = 4, calls_per_file: int = 20_000,
                      repeats: int = 3) -> None:  # fmt: skip
    import s3fs

    print(f"\n== ingest of {files} files × {calls_per_file:,} calls: data dir on S3 (moto, "
          f"localhost) vs local disk, interleaved, medians of {repeats} ==")  # fmt: skip
    raw, config, spans = make_raw_files(root / "source", files, calls_per_file)
    size_mb = sum(p.stat().st_size for p in raw.rglob("*.jsonl")) / 1e6
    print(f"{'raw files':<38} {spans:,} spans, {size_mb:,.0f} MB")
    timings: dict[str, list[float]] = {"local": [], "s3": [], "server_cpu": []}
    with s3_server() as (env, server_cpu):
        fs = s3fs.S3FileSystem(
            key=env["AWS_ACCESS_KEY_ID"], secret=env["AWS_SECRET_ACCESS_KEY"],
            endpoint_url=env["AWS_ENDPOINT_URL"])  # fmt: skip
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        fs.mkdir(bucket)
        fs.put(f"{raw}/", f"{bucket}/raw/", recursive=True)
        for n in range(repeats):
            local = root / f"local-{n}"
            took = _ingest(str(local / "data"), str(raw), config, local / "reports", env)
            timings["local"].append(took)
            url = f"s3://{bucket}/run-{n}"
            before = server_cpu()
            took_s3 = _ingest(url, f"s3://{bucket}/raw", config, root / f"s3-{n}-reports", env)
            timings["s3"].append(took_s3)
            timings["server_cpu"].append(server_cpu() - before)
            print(f"{'ingest, local disk / S3':<38} {took:8.2f} s / {took_s3:6.2f} s   "
                  f"{spans / took:>9,.0f} / {spans / took_s3:,.0f} spans/s   the S3 "
                  f"server's CPU {timings['server_cpu'][-1]:.2f} s")  # fmt: skip
            shutil.rmtree(local)
            # and the run's objects: moto lists a prefix by scanning the whole bucket, so
            # each run left there would slow the next one's listings
            fs.rm(f"{bucket}/run-{n}", recursive=True)
    local_s, s3_s, server_s = (statistics.median(timings[k]) for k in timings)
    record("objectstore", files=files, spans=spans, file_mb=size_mb, local_s=local_s, s3_s=s3_s,
           server_cpu_s=server_s)  # fmt: skip
    ratio("objectstore", "objectstore", s3_s, local_s, TARGET_RATIO)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4, help="raw files (default 4)")
    parser.add_argument("--calls-per-file", type=int, default=20_000,
                        help="demo calls per file, ≈ 1.5 spans each (default 20,000)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="runs of each (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fleetledger-bench-objectstore-") as root:
        bench_objectstore(Path(root), args.files, args.calls_per_file, args.repeats)


if __name__ == "__main__":
    main()
