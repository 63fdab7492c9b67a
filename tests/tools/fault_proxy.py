"""A fault layer between the functions and DynamoDB (moto), for the fault drills.

A loopback HTTP proxy: every request goes on to moto, except that a DynamoDB API call (not a
stream read) may, at the rates set, be

- throttled: answered 400 ProvisionedThroughputExceededException, not applied;
- delayed: held for `delay_ms`, then applied and answered;
- failed: answered 500 InternalServerError, not applied;
- lost: applied by moto, then the connection is closed without an answer (the nasty case: the
  caller cannot tell whether its write happened).

Rates start at zero. `POST /__faults` with {"throttle", "delay", "error", "lost", "delay_ms"}
sets them (a drill switches them on after its setup); `GET /__faults` answers the rates and how
many of each were injected, so a drill can show that faults really happened.

    target/venv/bin/python tests/tools/fault_proxy.py PORT UPSTREAM_URL [SEED]
"""

import http.client
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

KINDS = ("throttle", "delay", "error", "lost")
LOCK = threading.Lock()
RATES = {kind: 0.0 for kind in KINDS}
RATES["delay_ms"] = 200
INJECTED = {kind: 0 for kind in KINDS}
DICE = random.Random()


def pick_fault():
    """One draw per request: each kind takes its own slice of [0, 1)."""
    with LOCK:
        roll = DICE.random()
        edge = 0.0
        for kind in KINDS:
            edge += RATES[kind]
            if roll < edge:
                INJECTED[kind] += 1
                return kind
    return None


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None

    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/x-amz-json-1.0"):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/__faults":
            with LOCK:
                self.answer(200, {"rates": dict(RATES), "injected": dict(INJECTED)}, "application/json")
            return
        self.forward(None)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path == "/__faults":
            settings = json.loads(body or b"{}")
            with LOCK:
                for name, value in settings.items():
                    if name in RATES:
                        RATES[name] = float(value) if name != "delay_ms" else int(value)
                self.answer(200, {"rates": dict(RATES), "injected": dict(INJECTED)}, "application/json")
            return
        target = self.headers.get("X-Amz-Target", "")
        fault = pick_fault() if target.startswith("DynamoDB_20120810.") else None
        if fault == "throttle":
            self.answer(400, {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput for the table was exceeded (injected)",
            })
            return
        if fault == "error":
            self.answer(500, {
                "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "message": "Internal server error (injected)",
            })
            return
        if fault == "delay":
            time.sleep(RATES["delay_ms"] / 1000.0)
        status, headers, data = self.upstream_call("POST", body)
        if fault == "lost":
            # Applied, and the answer never comes back.
            self.close_connection = True
            return
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def forward(self, body):
        status, headers, data = self.upstream_call(self.command, body)
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def upstream_call(self, method, body):
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            connection.request(method, self.path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


def main():
    port = int(sys.argv[1])
    Proxy.upstream = urlparse(sys.argv[2])
    if len(sys.argv) > 3:
        DICE.seed(int(sys.argv[3]))
    server = ThreadingHTTPServer(("127.0.0.1", port), Proxy)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
