"""A plain boto3 SendMessageBatch flooder: the baseline the Rust flooder is compared with.

Closed loop, as people usually write one: N threads, each with its own client, send batches
of 10 bodies of a fixed size as fast as the endpoint answers, until COUNT messages are
acknowledged. Prints one JSON line: messages, failed entries, seconds, messages/s.

    python boto3_flood.py --endpoint-url http://127.0.0.1:9324 \
        --queue-url http://127.0.0.1/000000000000/bench --count 100000 --threads 16
"""

import argparse
import json
import os
import random
import string
import threading
import time

import boto3
from botocore.config import Config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--payload-size", type=int, default=256)
    args = parser.parse_args()

    rng = random.Random(0)
    alphabet = string.ascii_letters + string.digits
    # Bodies are made before the clock starts: the benchmark measures sending.
    bodies = ["".join(rng.choice(alphabet) for _ in range(args.payload_size)) for _ in range(100)]
    lock = threading.Lock()
    state = {"claimed": 0, "acked": 0, "failed": 0}
    config = Config(
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        retries={"max_attempts": 1, "mode": "standard"},
        max_pool_connections=4,
    )

    def worker() -> None:
        client = boto3.client("sqs", endpoint_url=args.endpoint_url, config=config)
        while True:
            with lock:
                n = min(10, args.count - state["claimed"])
                if n <= 0:
                    return
                first = state["claimed"]
                state["claimed"] += n
            entries = [
                {"Id": str(first + i), "MessageBody": bodies[(first + i) % len(bodies)]}
                for i in range(n)
            ]
            response = client.send_message_batch(QueueUrl=args.queue_url, Entries=entries)
            with lock:
                state["acked"] += len(response.get("Successful", []))
                state["failed"] += len(response.get("Failed", []))

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "messages": state["acked"],
                "failed": state["failed"],
                "seconds": seconds,
                "rate": state["acked"] / seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
