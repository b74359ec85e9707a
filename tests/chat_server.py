"""A local OpenAI-compatible chat server for the reviewer and probe tests: it answers
``POST /v1/chat/completions`` from a script and records every request."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, Any]  # HTTP status, JSON body (or raw bytes)


def ok(text: str, tokens: int = 50) -> Reply:
    return 200, {"choices": [{"message": {"role": "assistant", "content": text}}],
                 "usage": {"total_tokens": tokens}}


class ScriptedDebate:
    """Replies like two debaters would, with a configurable verdict for each."""

    def __init__(self, dike: str = "uphold", eris: str = "uphold", rewrite: str | None = None) -> None:
        self.verdict = {"DIKE": dike, "ERIS": eris}
        self.rewrite = rewrite or "Thank you for your message, I understand and I'm happy to help you with this."
        self.n = 0

    def __call__(self, messages: list[dict[str, str]]) -> Reply:
        speaker = "DIKE" if messages[0]["content"].startswith("You are DIKE") else "ERIS"
        prompt = messages[-1]["content"]
        if "list the 2 to 4 subtopics" in prompt:
            return ok("1. tone of the reply\n2. intent of the speaker\n3. cultural context")
        if "Reply with JSON only" in prompt:
            return ok(json.dumps({"verdict": self.verdict[speaker], "reasons": f"{speaker} decided"}))
        if "Rewrite the response" in prompt:
            return ok(self.rewrite)
        self.n += 1
        return ok(f"{speaker} argument #{self.n}")


class ChatServer:
    def __init__(self, script: Callable[[list[dict[str, str]]], Reply]) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.refuse_json_mode = False  # answer 400 to requests that ask for response_format
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name for it
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                entry = {"path": self.path, "auth": self.headers.get("Authorization"), **body,
                         "t_start": time.time()}
                server.requests.append(entry)
                if server.refuse_json_mode and "response_format" in body:
                    status, payload = 400, {"error": "response_format is not supported"}
                else:
                    status, payload = server.script(body["messages"])
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client was killed mid-request
                    return
                entry["t_end"] = time.time()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def prompts(self) -> list[tuple[str, str]]:
        """(speaker, user prompt) of every request so far."""
        return [("DIKE" if r["messages"][0]["content"].startswith("You are DIKE") else "ERIS",
                 r["messages"][-1]["content"]) for r in self.requests]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
