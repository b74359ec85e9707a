"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol: open
a page, read what is visible on it, and take a screenshot, as a person would see it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from tests.kafka_support import free_port


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("chromium is not installed: run deploy/ensure-tools.sh (apt-get install chromium)")
    return path


class Page:
    """``with Page(path) as page:`` loads a local file; ``page.eval(js)`` returns a JSON value."""

    def __init__(self, path: Path, width: int = 1280, height: int = 900) -> None:
        self.path, self.width, self.height = path, width, height
        self.port = free_port()
        self.profile = tempfile.TemporaryDirectory()
        self.proc: subprocess.Popen | None = None
        self.loop = asyncio.new_event_loop()
        self.session: aiohttp.ClientSession | None = None
        self.ws: Any = None
        self.n = 0

    def __enter__(self) -> Page:
        self.proc = subprocess.Popen(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--remote-debugging-port={self.port}", "--remote-debugging-address=127.0.0.1",
             f"--user-data-dir={self.profile.name}", f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        targets: list[dict] = []
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json", timeout=2) as r:
                    targets = [t for t in json.loads(r.read()) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        if not targets:
            self.__exit__()
            raise RuntimeError("chromium did not open its DevTools port")
        self.loop.run_until_complete(self._connect(targets[0]["webSocketDebuggerUrl"]))
        self.call("Page.enable")
        self.call("Page.navigate", url=self.path.resolve().as_uri())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.eval("document.readyState") != "complete":
            time.sleep(0.1)
        return self

    async def _connect(self, url: str) -> None:
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(url, max_msg_size=0)

    async def _call(self, method: str, params: dict) -> dict:
        self.n += 1
        await self.ws.send_json({"id": self.n, "method": method, "params": params})
        while True:
            msg = await self.ws.receive_json(timeout=60)
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def call(self, method: str, **params: Any) -> dict:
        return self.loop.run_until_complete(self._call(method, params))

    def eval(self, js: str) -> Any:
        got = self.call("Runtime.evaluate", expression=js, returnByValue=True)
        return got.get("result", {}).get("value")

    def screenshot(self, out: Path) -> Path:
        height = int(self.eval("document.documentElement.scrollHeight") or self.height)
        self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=min(height, 16000),
                  deviceScaleFactor=1, mobile=False)
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        out.write_bytes(base64.b64decode(data))
        return out

    def __exit__(self, *exc: object) -> None:
        if self.ws is not None:
            self.loop.run_until_complete(self.ws.close())
        if self.session is not None:
            self.loop.run_until_complete(self.session.close())
        self.loop.close()
        if self.proc is not None:
            # Chromium's renderer and utility processes write into the profile
            # too: killing only the browser left them writing while the profile
            # was removed ("Directory not empty", once in two CI runs). Kill
            # the whole process group and wait until none of it is left.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.killpg(self.proc.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        self.profile.cleanup()
