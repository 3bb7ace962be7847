"""Fixtures: the real Swift server (`souk-interop-server`), started per session
on an ephemeral port, and connections to it.

The binary is found with `swift build --product souk-interop-server
--show-bin-path` (plus `--scratch-path $SOUK_SWIFT_SCRATCH` when that is set),
or taken from $SOUK_INTEROP_SERVER. Build it first (Tools/test does).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import souk_rpc

REPO_ROOT = Path(__file__).resolve().parents[3]
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def _swift() -> str | None:
    found = shutil.which("swift")
    if found:
        return found
    if os.access("/opt/swift/usr/bin/swift", os.X_OK):
        return "/opt/swift/usr/bin/swift"
    return None


_binary_cache: list[Path] = []


def interop_server_binary() -> Path:
    if _binary_cache:
        return _binary_cache[0]
    explicit = os.environ.get("SOUK_INTEROP_SERVER")
    if explicit:
        path = Path(explicit)
        if not os.access(path, os.X_OK):
            pytest.fail(f"SOUK_INTEROP_SERVER={explicit} is not an executable file")
        _binary_cache.append(path)
        return path
    swift = _swift()
    if swift is None:
        pytest.fail("souk-interop-server: no `swift` on PATH (nor /opt/swift/usr/bin/swift) to "
                    "locate it; set SOUK_INTEROP_SERVER to the binary")
    command = [swift, "build", "--product", "souk-interop-server", "--show-bin-path"]
    scratch = os.environ.get("SOUK_SWIFT_SCRATCH")
    if scratch:
        command += ["--scratch-path", scratch]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    build_hint = "swift build --product souk-interop-server" + \
        (f" --scratch-path {scratch}" if scratch else "")
    if result.returncode != 0:
        pytest.fail(f"`{' '.join(command)}` failed ({result.returncode}):\n{result.stderr}")
    path = Path(result.stdout.strip().splitlines()[-1]) / "souk-interop-server"
    if not os.access(path, os.X_OK):
        pytest.fail(f"souk-interop-server is not built: no executable at {path}.\n"
                    f"Build it first: `{build_hint}` (Tools/test builds the whole package "
                    "before running these tests).")
    _binary_cache.append(path)
    return path


class InteropServer:
    """A running souk-interop-server process."""

    def __init__(self, *args: str):
        self.binary = interop_server_binary()
        self.args = ["--port", "0", *args]
        self.stderr = tempfile.TemporaryFile(mode="w+b")
        self.proc = subprocess.Popen([str(self.binary), *self.args], stdout=subprocess.PIPE,
                                     stderr=self.stderr, stdin=subprocess.DEVNULL,
                                     cwd=REPO_ROOT)
        self.stdout_lines: queue.Queue = queue.Queue()
        self.stdout_log: list[str] = []
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        self.port = self._wait_listening()
        self.host = "127.0.0.1"

    def _drain(self) -> None:
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stdout_log.append(line)
            self.stdout_lines.put(line)
        self.stdout_lines.put(None)

    def stderr_text(self, limit: int = 4000) -> str:
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-limit:]

    def _wait_listening(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.stdout_lines.get(timeout=max(0.01, remaining))
            except queue.Empty:
                self.kill()
                stderr = self.stderr_text()
                self._release()
                pytest.fail(f"souk-interop-server {' '.join(self.args)} printed no "
                            f"'listening on 127.0.0.1:PORT' within {START_TIMEOUT:g}s; "
                            f"stdout: {self.stdout_log!r}; stderr:\n{stderr}")
            if line is None:
                code = self.proc.wait(5)
                stderr = self.stderr_text()
                self._release()
                pytest.fail(f"souk-interop-server {' '.join(self.args)} exited ({code}) before "
                            f"listening; stdout: {self.stdout_log!r}; stderr:\n{stderr}")
            match = LISTENING.search(line)
            if match:
                return int(match.group(1))

    def connect(self, **options) -> souk_rpc.Connection:
        return souk_rpc.connect(self.host, self.port, timeout=5, **options)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._release()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def _release(self) -> None:
        self._drainer.join(5)
        if not self._drainer.is_alive():
            self.proc.stdout.close()
        self.stderr.close()


@pytest.fixture(scope="session")
def interop_server():
    server = InteropServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def small_frame_server():
    """A server whose frame limit is 64 KiB (--max-frame-bytes 65536)."""
    server = InteropServer("--max-frame-bytes", "65536")
    yield server
    server.stop()


@pytest.fixture
def start_server():
    """A factory of servers of the test's own (stopped at the end of the test)."""
    servers: list[InteropServer] = []

    def start(*args: str) -> InteropServer:
        server = InteropServer(*args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def conn(interop_server):
    with interop_server.connect() as connection:
        yield connection
