"""An Alertmanager webhook receiver that keeps and logs what it gets.

The example receiver of deploy/alertmanager (``affectwatch alerts webhook``)
and the receiver of the end-to-end alert test: notifications are appended to
a JSON-lines file (when given) and kept in memory, one entry per POST, with the
path it came to (``/pager``, ``/tickets``).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from streams.safe_files import open_output


class WebhookReceiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, out: Path | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.out = out
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self.send_response(400)
                    self.end_headers()
                    return
                receiver.take({"path": self.path, **body})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # quiet: the JSONL file is the log
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    def take(self, notification: dict[str, Any]) -> None:
        with self._lock:
            self.received.append(notification)
            if self.out is not None:
                with open_output(self.out, append=True) as fh:
                    fh.write(json.dumps(notification) + "\n")

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every notification so far, with the notification's path."""
        with self._lock:
            return [{"path": n["path"], **a} for n in self.received for a in n.get("alerts", [])]

    def start(self) -> WebhookReceiver:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
