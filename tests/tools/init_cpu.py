"""What a function binary's init costs in CPU, free of any CPU limit's rounding.

Starts the binary N times against a Runtime API that accepts connections and never answers:
the function runs its init (logs, metrics, its DynamoDB client and tables from the environment)
and then waits for its first event. The CPU time its process used by then, all threads, is read
from /proc/PID/task/*/schedstat (nanoseconds on CPU). Prints the median, min and max per binary.

    python3 tests/tools/init_cpu.py target/release 15 hello-lambda commodity-lookup checkout

Linux only. No DynamoDB is contacted (the endpoint points nowhere; init never calls it).
"""

import glob
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

TABLE_VARIABLES = [
    "STORES_TABLE", "COMMODITIES_TABLE", "BARCODES_TABLE", "STOCK_TABLE", "PRICES_TABLE", "PRICE_BATCHES_TABLE",
    "SALES_TABLE", "IDEMPOTENCY_TABLE", "AGGREGATES_TABLE", "PROMOTIONS_TABLE", "CATALOG_CHANGES_TABLE",
]


def silent_runtime_api():
    """A listener that takes every connection and answers none: /next never returns."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held = []

    def accept():
        while True:
            connection, _ = server.accept()
            held.append(connection)

    threading.Thread(target=accept, daemon=True).start()
    return server.getsockname()[1]


def init_cpu_ms(binary, port, settle=0.3):
    name = os.path.basename(binary)
    env = {
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "init-cpu",
        "AWS_SECRET_ACCESS_KEY": "init-cpu",
        "AWS_ENDPOINT_URL_DYNAMODB": "https://localhost:1",
        "PATH": "/usr/bin:/bin",
        **{variable: f"init-cpu-{variable}" for variable in TABLE_VARIABLES},
    }
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(settle)
        total = 0
        for task in glob.glob(f"/proc/{process.pid}/task/*/schedstat"):
            with open(task) as f:
                total += int(f.read().split()[0])
        return total / 1e6
    finally:
        process.kill()
        process.wait()


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    directory, runs, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    port = silent_runtime_api()
    for name in names:
        cpu = [init_cpu_ms(os.path.join(directory, name), port) for _ in range(runs)]
        print(f"{name:<18} init CPU ms: median {statistics.median(cpu):.2f}  min {min(cpu):.2f}  max {max(cpu):.2f}")


if __name__ == "__main__":
    main()
