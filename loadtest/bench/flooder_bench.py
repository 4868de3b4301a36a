"""Flooder benchmark: messages/s per core of `loadtest flood` and of a plain boto3 flooder,
side by side in one run, against (a) a minimal SQS-compatible sink that answers at once (so
the generator is measured, not the emulator) and (b) LocalStack; then the Rust flooder's rate
error and schedule lag at 5k and 20k msg/s on the sink.

"Per core" is messages per CPU-second of the flooder process (user + system, from wait4),
which is what one core could sustain; wall-clock messages/s is shown too.

    cargo build --release -p loadtest --bin loadtest --bin sqs-sink
    python3 -m venv target/bench-venv && target/bench-venv/bin/pip install -r loadtest/bench/requirements.txt
    scripts/local-aws up && eval "$(scripts/local-aws env)"
    target/bench-venv/bin/python loadtest/bench/flooder_bench.py
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
SINK_QUEUE = "http://127.0.0.1/000000000000/bench"


def timed(cmd: list[str]) -> tuple[str, float, float]:
    """Runs cmd; returns (stdout, wall seconds, user+system CPU seconds of cmd)."""
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = os.times()
    if done.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({done.returncode}):\n{done.stderr}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return done.stdout, wall, cpu


def rust_flood(loadtest: str, endpoint: str, queue: str, extra: list[str]) -> tuple[dict, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        _, wall, cpu = timed(
            [loadtest, "flood", "--endpoint-url", endpoint, "--queue-url", queue, "--quiet", "--json", str(summary), *extra]
        )
        return json.loads(summary.read_text()), wall, cpu


def boto3_flood(python: str, endpoint: str, queue: str, count: int, threads: int) -> tuple[dict, float, float]:
    out, wall, cpu = timed(
        [python, str(Path(__file__).with_name("boto3_flood.py")), "--endpoint-url", endpoint, "--queue-url", queue,
         "--count", str(count), "--threads", str(threads)]
    )
    return json.loads(out), wall, cpu


def row(name: str, target: str, messages: int, wall: float, cpu: float) -> str:
    per_core = messages / cpu if cpu > 0 else float("nan")
    return f"| {name} | {target} | {messages:,} | {messages / wall:,.0f} | {cpu:.2f} | {per_core:,.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description="flooder benchmark")
    parser.add_argument("--loadtest", default=str(ROOT / "target/release/loadtest"))
    parser.add_argument("--sink", default=str(ROOT / "target/release/sqs-sink"))
    parser.add_argument("--python", default=sys.executable, help="a Python with boto3 (the bench venv)")
    parser.add_argument("--localstack", default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"))
    parser.add_argument("--sink-count", type=int, default=500_000)
    parser.add_argument("--boto3-sink-count", type=int, default=100_000)
    parser.add_argument("--localstack-count", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=16, help="boto3 threads")
    parser.add_argument("--rate-seconds", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("AWS_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")

    sink = subprocess.Popen([args.sink, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    endpoint = sink.stdout.readline().strip()
    rows = []
    try:
        # Throughput: far more than either can send, so each goes as fast as it can.
        unbounded = ["--rate", "10000000", "--max-in-flight", "64"]
        summary, wall, cpu = rust_flood(args.loadtest, endpoint, SINK_QUEUE, [*unbounded, "--count", str(args.sink_count)])
        rows.append(row("loadtest flood (Rust)", "sink", summary["acked"], wall, cpu))
        result, wall, cpu = boto3_flood(args.python, endpoint, SINK_QUEUE, args.boto3_sink_count, args.threads)
        rows.append(row(f"boto3, {args.threads} threads", "sink", result["messages"], wall, cpu))

        sqs = boto3.client("sqs", endpoint_url=args.localstack, region_name=os.environ["AWS_REGION"])
        stamp = int(time.time())
        queue_rust = sqs.create_queue(QueueName=f"bench-rust-{stamp}")["QueueUrl"]
        queue_boto = sqs.create_queue(QueueName=f"bench-boto3-{stamp}")["QueueUrl"]
        summary, wall, cpu = rust_flood(
            args.loadtest, args.localstack, queue_rust, ["--rate", "10000000", "--max-in-flight", "16", "--count", str(args.localstack_count)]
        )
        rows.append(row("loadtest flood (Rust), 16 in flight", "LocalStack", summary["acked"], wall, cpu))
        result, wall, cpu = boto3_flood(args.python, args.localstack, queue_boto, args.localstack_count, args.threads)
        rows.append(row(f"boto3, {args.threads} threads", "LocalStack", result["messages"], wall, cpu))
        for queue in (queue_rust, queue_boto):
            sqs.delete_queue(QueueUrl=queue)

        accuracy = []
        for rate in (5000, 20000):
            summary, wall, cpu = rust_flood(
                args.loadtest, endpoint, SINK_QUEUE, ["--rate", str(rate), "--duration", f"{args.rate_seconds}s"]
            )
            accuracy.append(
                f"| {rate:,} | {args.rate_seconds} s | {summary['acked']:,} | {summary['achieved_rate']:,.1f} | "
                f"{summary['rate_error'] * 100:+.3f} % | {summary['schedule_lag']['p99_ms']:.3f} ms | "
                f"{summary['schedule_lag']['max_ms']:.2f} ms | {summary['response_time']['p99_ms']:.2f} ms | "
                f"{summary['late']:,} | {cpu / wall * 100:.0f} % |"
            )
    finally:
        sink.terminate()
        sink.wait()

    print("| flooder | target | messages | messages/s (wall) | CPU s | messages per CPU-second |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print()
    print("| target rate (msg/s) | duration | acked | achieved msg/s | rate error | schedule lag p99 | lag max | response p99 | late | flooder CPU |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(accuracy))
    print()
    print(f"load average before the last run ended: {os.getloadavg()}")


if __name__ == "__main__":
    main()
