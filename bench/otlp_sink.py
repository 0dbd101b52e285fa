"""A trace collector that takes OTLP/HTTP JSON exports and keeps only counts, for `bench.run
--tracing`: the gateway's exporter pays its full cost, the machine as little as possible for
the other end. `GET /stats`: requests, spans (counted by their `spanId` keys), bytes.

    python -m bench.otlp_sink --port 4318
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(port: int) -> None:
    counts = {"requests": 0, "spans": 0, "bytes": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a collector answers

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                counts["requests"] += 1
                counts["spans"] += body.count(b'"spanId"')
                counts["bytes"] += len(body)
            self._answer(200 if self.path == "/v1/traces" else 404, b"{}")

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                self._answer(200, json.dumps(counts).encode())

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args().port)
