"""The whole system as `souk dev` runs it: the built binaries as separate processes on a
throwaway PostgreSQL cluster of their own (Tools/dev-db with SOUK_PG_DIR and SOUK_PG_PORT), every
port a free one. The purchase flow goes through the gateway and through the Python RPC client;
then the orders process is killed with SIGKILL during payments (souk dev starts it again), and
PostgreSQL is stopped as a crash would stop it (`pg_ctl stop -m immediate`) and started again,
while the services keep running. The tests run in order, on one system.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from conftest import ROOT, free_port, souk_binary

sys.path.insert(0, str(ROOT / "Clients" / "python"))
import souk_rpc  # noqa: E402  (after the path: the client is not installed)
from souk.orders.v1 import orders_pb2  # noqa: E402
from souk.payments.v1 import payments_pb2  # noqa: E402
from souk.users.v1 import users_pb2  # noqa: E402

CARD = {"number": "4242424242424242", "expMonth": 12, "expYear": 2031, "cvc": "123"}
PASSWORD = "correct horse battery"


@dataclass
class DevSystem:
    process: subprocess.Popen
    environment: dict
    log_path: Path
    ports: dict
    keys: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def child_pid(self, name: str) -> int:
        """The pid of the `souk NAME` (or souk-gateway) child of `souk dev`."""
        # Each thread's children are listed under it: souk dev starts them from whichever thread runs its task.
        children = [pid for task in Path(f"/proc/{self.process.pid}/task").iterdir()
                    for pid in (task / "children").read_text().split()]
        for pid in children:
            try:
                arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if name.encode() in arguments[1:2] or (name == "gateway" and arguments[0].endswith(b"souk-gateway")):
                return int(pid)
        raise AssertionError(f"souk dev has no {name} child; its children: {children}\n{self.log()}")

    def ready(self, name: str) -> int | None:
        port = self.ports["gateway"] if name == "gateway" else self.ports[f"{name}_admin"]
        try:
            return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=3).status_code
        except requests.RequestException:
            return None

    def wait_until_ready(self, names=("users", "orders", "payments", "gateway"), timeout=60):
        deadline = time.monotonic() + timeout
        while any(self.ready(name) != 200 for name in names):
            assert self.process.poll() is None, f"souk dev exited ({self.process.returncode}):\n{self.log()}"
            assert time.monotonic() < deadline, f"not ready in {timeout} s:\n{self.log()[-6000:]}"
            time.sleep(0.2)

    def dev_db(self, *arguments: str, check: bool = True) -> str:
        done = subprocess.run([str(ROOT / "Tools" / "dev-db"), *arguments], cwd=ROOT, env=self.environment,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 or not check, done.stdout + done.stderr
        return done.stdout

    # The purchase flow through the gateway.

    def sign_up(self, name: str = "ada") -> tuple[str, str]:
        """A new account, signed in: its email and its `Authorization` header value."""
        email = f"{name}-{uuid.uuid4().hex[:10]}@example.com"
        created = requests.post(self.url + "/v1/users", json={"email": email, "password": PASSWORD, "fullName": name}, timeout=10)
        assert created.status_code == 201, created.text
        token = requests.post(self.url + "/v1/auth/tokens", json={"email": email, "password": PASSWORD}, timeout=10)
        assert token.status_code == 200, token.text
        return email, "Bearer " + token.json()["accessToken"]

    def create_order(self, authorization: str) -> dict:
        body = {"currency": "EUR", "items": [{"sku": "tea-1kg", "quantity": 2, "unitPrice": "450"}]}
        created = requests.post(self.url + "/v1/orders", json=body, headers={"Authorization": authorization}, timeout=10)
        assert created.status_code == 201, created.text
        return created.json()

    def pay(self, authorization: str, order: dict, key: str) -> requests.Response:
        body = {"orderId": order["id"], "amount": order["total"], "currency": "EUR", "card": CARD}
        return requests.post(self.url + "/v1/payments", json=body, timeout=30,
                             headers={"Authorization": authorization, "Idempotency-Key": key})

    def order(self, authorization: str, order_id: str) -> dict:
        got = requests.get(f"{self.url}/v1/orders/{order_id}", headers={"Authorization": authorization}, timeout=10)
        assert got.status_code == 200, got.text
        return got.json()


def test_a_port_already_taken_is_named_with_what_to_do_before_anything_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environment = {key: value for key, value in os.environ.items() if not key.startswith("SOUK_")}
        environment.update({"SOUK_ORDERS_ADDRESS": f"127.0.0.1:{port}", "SOUK_PG_DIR": "var/pg-never-started",
                            "SOUK_PG_PORT": str(free_port())})
        refused = subprocess.run([str(souk_binary()), "dev", "--keys-dir", str(tmp_path / "keys")], cwd=ROOT,
                                 env=environment, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert f"port {port} (the orders RPC port) on 127.0.0.1 is taken by another process" in refused.stderr, refused.stderr
    assert f"SOUK_ORDERS_ADDRESS=127.0.0.1:<port>" in refused.stderr
    assert not (ROOT / "var" / "pg-never-started").exists() and not (tmp_path / "keys").exists(), "nothing was started"


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    souk = souk_binary()
    folder = tmp_path_factory.mktemp("souk-dev")
    names = ["users", "orders", "payments", "gateway", "users_admin", "orders_admin", "payments_admin", "postgres"]
    ports = {name: free_port() for name in names}
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SOUK_")}
    environment.update({
        # A cluster of its own, so that stopping it disturbs no other test.
        "SOUK_PG_DIR": "var/pg-end-to-end", "SOUK_PG_PORT": str(ports["postgres"]),
        "SOUK_GATEWAY_ADDRESS": f"127.0.0.1:{ports['gateway']}", "NO_COLOR": "1",
    })
    for service in ["users", "orders", "payments"]:
        environment[f"SOUK_{service.upper()}_ADDRESS"] = f"127.0.0.1:{ports[service]}"
        environment[f"SOUK_{service.upper()}_ADMIN_ADDRESS"] = f"127.0.0.1:{ports[service + '_admin']}"
    log_path = folder / "souk-dev.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(souk), "dev", "--keys-dir", str(folder / "keys")], cwd=ROOT, env=environment,
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    system = DevSystem(process, environment, log_path, ports, folder / "keys")
    try:
        deadline = time.monotonic() + 180
        while "Souk is up" not in system.log():
            assert process.poll() is None, f"souk dev exited ({process.returncode}) at start:\n{system.log()}"
            assert time.monotonic() < deadline, f"souk dev was not up in 180 s:\n{system.log()}"
            time.sleep(0.3)
        yield system
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                subprocess.run([str(ROOT / "Tools" / "dev-db"), "stop"], cwd=ROOT, env=environment, capture_output=True)


def test_souk_dev_prints_urls_and_a_curl_line_that_works(dev):
    log = dev.log()
    assert f"http://127.0.0.1:{dev.ports['gateway']}/docs" in log
    for service in ["users", "orders", "payments"]:
        assert f"RPC 127.0.0.1:{dev.ports[service]}" in log and f"http://127.0.0.1:{dev.ports[service + '_admin']}/metrics" in log
    curl_line = next(line for line in log.splitlines() if "curl -s -X POST" in line).split("| ", 1)[1].strip()
    created = subprocess.run(["bash", "-c", curl_line + " -w ' %{http_code}'"], capture_output=True, text=True, timeout=30)
    assert created.stdout.endswith(" 201"), created.stdout + created.stderr
    # Each service's admin port: liveness, readiness, and the RPC server's metrics.
    for service in ["users", "orders", "payments"]:
        admin = f"http://127.0.0.1:{dev.ports[service + '_admin']}"
        assert requests.get(admin + "/healthz", timeout=5).status_code == 200
        assert requests.get(admin + "/readyz", timeout=5).json() == {"status": "SERVING"}
    metrics = requests.get(f"http://127.0.0.1:{dev.ports['users_admin']}/metrics", timeout=5).text
    assert 'souk_rpc_server_calls_total{method="/souk.users.v1.UsersService/CreateUser",code="OK"}' in metrics


def test_a_purchase_through_the_gateway(dev):
    _, authorization = dev.sign_up("gateway-buyer")
    order = dev.create_order(authorization)
    assert order["status"] == "PENDING" and order["total"] == "900"
    paid = dev.pay(authorization, order, key=str(uuid.uuid4()))
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "SUCCEEDED" and paid.json()["cardLast4"] == "4242"
    assert dev.order(authorization, order["id"])["status"] == "PAID"
    # The request id the client gave, and the trace id of its traceparent, reach the log line of
    # the call it caused (a NOT_FOUND logs at info).
    trace_id = uuid.uuid4().hex
    missing = requests.get(f"{dev.url}/v1/orders/{uuid.uuid4()}", timeout=10, headers={
        "Authorization": authorization, "X-Request-Id": "e2e-request-1", "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert missing.status_code == 404 and missing.headers["X-Request-Id"] == "e2e-request-1"
    deadline = time.monotonic() + 5
    while not [line for line in dev.log().splitlines()
               if line.startswith("orders") and "request_id=e2e-request-1" in line and f"trace_id={trace_id}" in line]:
        assert time.monotonic() < deadline, "no orders log line with the request and trace ids:\n" + dev.log()[-4000:]
        time.sleep(0.1)


def test_a_purchase_through_the_python_rpc_client(dev):
    email = f"rpc-{uuid.uuid4().hex[:10]}@example.com"
    with souk_rpc.connect("127.0.0.1", dev.ports["users"], timeout=5) as users:
        users.call("/souk.users.v1.UsersService/CreateUser",
                   users_pb2.CreateUserRequest(email=email, password=PASSWORD, full_name="Grace"), users_pb2.User, timeout=10)
        token = users.call("/souk.users.v1.UsersService/Authenticate", users_pb2.AuthenticateRequest(email=email, password=PASSWORD),
                           users_pb2.AuthenticateResponse, timeout=10).access_token
    authorization = [("authorization", f"Bearer {token}")]
    with souk_rpc.connect("127.0.0.1", dev.ports["orders"], timeout=5) as orders, \
            souk_rpc.connect("127.0.0.1", dev.ports["payments"], timeout=5) as payments:
        request = orders_pb2.CreateOrderRequest(currency="EUR", items=[orders_pb2.Order.Item(sku="mint", quantity=3, unit_price=250)])
        order = orders.call("/souk.orders.v1.OrdersService/CreateOrder", request, orders_pb2.Order, timeout=10, metadata=authorization)
        card = payments_pb2.Card(number="4242424242424242", exp_month=12, exp_year=2031, cvc="123")
        payment = payments.call("/souk.payments.v1.PaymentsService/CreatePayment",
                                payments_pb2.CreatePaymentRequest(order_id=order.id, amount=750, currency="EUR", card=card),
                                payments_pb2.Payment, timeout=30, metadata=authorization + [("idempotency-key", str(uuid.uuid4()))])
        assert payment.status == payments_pb2.Payment.SUCCEEDED
        got = orders.call("/souk.orders.v1.OrdersService/GetOrder", orders_pb2.GetOrderRequest(order_id=order.id),
                          orders_pb2.Order, timeout=10, metadata=authorization)
        assert got.status == orders_pb2.Order.PAID


def test_orders_killed_during_payments_loses_nothing_and_does_nothing_twice(dev):
    _, authorization = dev.sign_up("crash-buyer")
    orders = [dev.create_order(authorization) for _ in range(40)]
    keys = {order["id"]: str(uuid.uuid4()) for order in orders}
    first_answers = {}
    queue = list(orders)
    lock = threading.Lock()

    def pay_until_none_left():
        while True:
            with lock:
                if not queue:
                    return
                order = queue.pop()
            try:
                first_answers[order["id"]] = dev.pay(authorization, order, keys[order["id"]]).status_code
            except requests.RequestException as error:
                first_answers[order["id"]] = repr(error)

    # Four clients pay one order after another; orders is killed once a quarter are answered,
    # so that payments are in flight when it dies and more arrive while it is gone.
    orders_pid = dev.child_pid("orders")
    payers = [threading.Thread(target=pay_until_none_left) for _ in range(4)]
    for payer in payers:
        payer.start()
    deadline = time.monotonic() + 30
    while len(first_answers) < 10:
        assert time.monotonic() < deadline, f"payments did not get going: {first_answers}"
        time.sleep(0.002)
    os.kill(orders_pid, signal.SIGKILL)
    for payer in payers:
        payer.join(timeout=120)
    assert len(first_answers) == len(orders)
    assert any(answer != 201 for answer in first_answers.values()), "the kill missed every payment"

    # souk dev starts orders again; the clients retry with the same keys, as clients do.
    dev.wait_until_ready(timeout=60)
    assert dev.child_pid("orders") != orders_pid
    payment_ids = {}
    for order in orders:
        deadline = time.monotonic() + 60
        while True:
            answer = dev.pay(authorization, order, keys[order["id"]])
            if answer.status_code == 201:
                payment_ids[order["id"]] = answer.json()["id"]
                break
            assert answer.status_code in (409, 503, 504), answer.text  # in progress, or orders not back yet
            assert time.monotonic() < deadline, f"no answer for {order['id']}: {answer.text}\n{dev.log()[-6000:]}"
            time.sleep(0.3)
    # Every order ends PAID (the outbox delivers what the crash interrupted)...
    for order in orders:
        deadline = time.monotonic() + 60
        while dev.order(authorization, order["id"])["status"] != "PAID":
            assert time.monotonic() < deadline, f"order {order['id']} not PAID in 60 s (first answers {first_answers})"
            time.sleep(0.3)
    # ... with one payment each, the one every retry of its key answered.
    token = authorization.split(" ", 1)[1]
    with souk_rpc.connect("127.0.0.1", dev.ports["payments"], timeout=5) as payments:
        for order in orders:
            listed = payments.call("/souk.payments.v1.PaymentsService/ListPaymentsForOrder",
                                   payments_pb2.ListPaymentsForOrderRequest(order_id=order["id"], page_size=10),
                                   payments_pb2.ListPaymentsForOrderResponse, timeout=10,
                                   metadata=[("authorization", f"Bearer {token}")])
            assert [(p.id, p.status) for p in listed.payments] == [(payment_ids[order["id"]], payments_pb2.Payment.SUCCEEDED)]


def test_the_admin_port_outlives_a_flood_of_connections_that_send_nothing(dev):
    port = dev.ports["orders_admin"]
    flood = []
    try:
        for _ in range(200):
            connection = socket.create_connection(("127.0.0.1", port), timeout=5)
            flood.append(connection)
        # One that sends a request head a byte at a time and never finishes it.
        flood[0].sendall(b"GET /healthz HTTP/1.1\r\nHo")
        # Past 16 connections from one address, a new one is answered 429 and closed, so one
        # client cannot take every connection from the probes.
        flood[-1].settimeout(10)
        answer = b""
        while chunk := flood[-1].recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 429"), answer[:200]
        assert b"too many connections from 127.0.0.1: at most 16 at once" in answer, answer
    finally:
        for connection in flood:
            connection.close()
    deadline = time.monotonic() + 10
    while dev.ready("orders") != 200:
        assert time.monotonic() < deadline, "orders' admin port did not serve again after the flood"
        time.sleep(0.1)
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200


def test_every_service_recovers_from_a_postgres_crash_without_a_restart(dev):
    pids = {name: dev.child_pid(name) for name in ["users", "orders", "payments", "gateway"]}
    dev.dev_db("stop", "--immediate")
    # Readiness says so while the database is down...
    deadline = time.monotonic() + 20
    while dev.ready("orders") != 503:
        assert time.monotonic() < deadline, "orders' /readyz did not turn 503 with PostgreSQL down"
        time.sleep(0.2)
    down = requests.get(f"http://127.0.0.1:{dev.ports['orders_admin']}/readyz", timeout=5).json()
    assert down["status"] == "NOT_SERVING" and "database" in down["message"]
    # ... and calls fail with a status, not a hang or a crash.
    failed = requests.post(dev.url + "/v1/auth/tokens", json={"email": "nobody@example.com", "password": PASSWORD}, timeout=30)
    assert failed.status_code in (503, 504), failed.text
    dev.dev_db("start")
    dev.wait_until_ready(timeout=60)
    assert {name: dev.child_pid(name) for name in pids} == pids, "a service was restarted"
    _, authorization = dev.sign_up("after-crash")
    order = dev.create_order(authorization)
    deadline = time.monotonic() + 30
    while (paid := dev.pay(authorization, order, key=str(uuid.uuid4()))).status_code != 201:
        assert paid.status_code in (503, 504) and time.monotonic() < deadline, paid.text
        time.sleep(0.5)
    assert dev.order(authorization, order["id"])["status"] == "PAID"


def test_sigterm_stops_everything_gracefully_then_postgres(dev):
    children = {name: dev.child_pid(name) for name in ["users", "orders", "payments", "gateway"]}
    dev.process.send_signal(signal.SIGTERM)
    assert dev.process.wait(timeout=90) == 0, dev.log()[-6000:]
    for name, pid in children.items():
        assert not Path(f"/proc/{pid}").exists(), f"{name} ({pid}) outlived souk dev"
    assert dev.dev_db("status", check=False).startswith("stopped")
    log = dev.log()
    assert "SIGTERM: stopping the gateway, the services, then PostgreSQL" in log
    assert log.rstrip().endswith("stopped")
