"""The whole system as processes: `souk users`, `souk orders`, `souk payments` and `souk-gateway`,
built by `swift build`, against the local PostgreSQL cluster's service databases
(`Tools/dev-db start` must have run, as Tools/test does), on free ports of 127.0.0.1.

One system per test session; every process is stopped (SIGTERM, then SIGKILL) at the end.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def souk_binary() -> Path:
    command = ["swift", "build", "--show-bin-path"] + os.environ.get("SWIFT_BUILD_FLAGS", "").split()
    shown = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if shown.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{shown.stdout}{shown.stderr}")
    binary = Path(shown.stdout.strip()) / "souk"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: build it first (swift build)")
    return binary


def dev_db_url(service: str) -> str:
    shown = subprocess.run([str(ROOT / "Tools" / "dev-db"), "url", service], capture_output=True, text=True)
    if shown.returncode != 0:
        pytest.fail(f"Tools/dev-db url {service} failed (is the cluster started?):\n{shown.stderr}")
    return shown.stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class System:
    url: str
    folder: Path
    processes: dict = field(default_factory=dict)
    # The RPC ports: users, orders, payments (and the gateway's HTTP port).
    ports: dict = field(default_factory=dict)

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{self.log(name)}" for name in self.processes)

    def sign_up(self, name: str = "ada") -> str:
        """A new account, signed in: its `Authorization` header value."""
        email = f"{name}-{uuid.uuid4().hex[:10]}@example.com"
        body = {"email": email, "password": "correct horse battery", "fullName": name}
        created = requests.post(self.url + "/v1/users", json=body, timeout=10)
        assert created.status_code == 201, created.text
        token = requests.post(self.url + "/v1/auth/tokens", json={"email": email, "password": body["password"]}, timeout=10)
        assert token.status_code == 200, token.text
        return "Bearer " + token.json()["accessToken"]


@pytest.fixture(scope="session")
def system():
    souk = souk_binary()
    folder = Path(tempfile.mkdtemp(prefix="souk-system-"))
    os.chmod(folder, 0o700)
    for key_id, name in [("system-users", "users"), ("system-services", "services")]:
        made = subprocess.run([str(souk), "keys", "new", key_id, "--signing-key-out", str(folder / f"{name}.key"),
                               "--public-key-out", str(folder / f"{name}.pub")], capture_output=True, text=True)
        assert made.returncode == 0, made.stdout + made.stderr
    ports = {name: free_port() for name in ["users", "orders", "payments", "gateway"]}
    address = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    commands = {
        "users": ["users", "--port", str(ports["users"]), "--admin-address", "127.0.0.1:0", "--database-url", dev_db_url("users"),
                  "--signing-key-file", str(folder / "users.key"), "--service-keys-file", str(folder / "services.pub")],
        "orders": ["orders", "--port", str(ports["orders"]), "--admin-address", "127.0.0.1:0", "--database-url", dev_db_url("orders"),
                   "--users-address", address["users"], "--users-public-keys-file", str(folder / "users.pub"),
                   "--service-signing-key-file", str(folder / "services.key"),
                   "--service-keys-file", str(folder / "services.pub")],
        "payments": ["payments", "--port", str(ports["payments"]), "--admin-address", "127.0.0.1:0", "--database-url", dev_db_url("payments"),
                     "--orders-address", address["orders"], "--users-public-keys-file", str(folder / "users.pub"),
                     "--service-signing-key-file", str(folder / "services.key")],
        # The gateway as it is deployed: the souk-gateway executable.
        "gateway": ["--port", str(ports["gateway"]), "--users-address", address["users"],
                    "--orders-address", address["orders"], "--payments-address", address["payments"]],
    }
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SOUK_")}
    running = System(url=f"http://{address['gateway']}", folder=folder, ports=ports)
    try:
        for name, arguments in commands.items():
            log = open(folder / f"{name}.log", "w")
            program = souk.with_name("souk-gateway") if name == "gateway" else souk
            running.processes[name] = subprocess.Popen([str(program)] + arguments, stdout=log, stderr=subprocess.STDOUT,
                                                       stdin=subprocess.DEVNULL, env=environment)
        deadline = time.monotonic() + 90
        while True:
            for name, process in running.processes.items():
                if process.poll() is not None:
                    pytest.fail(f"souk {name} exited ({process.returncode}) at start:\n{running.logs()}")
            try:
                if requests.get(running.url + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the system did not become ready in 90 s:\n{running.logs()}")
            time.sleep(0.2)
        yield running
    finally:
        for process in running.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in running.processes.items():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(folder, ignore_errors=True)
