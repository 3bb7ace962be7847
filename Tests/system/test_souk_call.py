"""`souk call` against real servers: the users service of the system fixture and
`souk-interop-server`, whose test contracts the `souk` binary is not built with (every
message it sends and reads there is encoded from the descriptors reflection returned).
"""
import base64
import json
import signal
import subprocess
import time
import uuid

import pytest

from conftest import ROOT, free_port, souk_binary

STATUS_NAMES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"]
INTEROP = "souk.test.v1.InteropService"


def souk_call(*arguments, stdin=None, timeout=30):
    return subprocess.run([str(souk_binary()), "call", *arguments], input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def start_interop(*options):
    port = free_port()
    server = subprocess.Popen([str(souk_binary().with_name("souk-interop-server")), "--port", str(port), *options],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while souk_call(f"127.0.0.1:{port}", "souk.rpc.v1.HealthService/Check", "{}", "--protoset", "/dev/null").returncode == 14:
        assert server.poll() is None and time.monotonic() < deadline, "souk-interop-server did not start"
        time.sleep(0.1)
    return server, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def interop():
    server, address = start_interop()
    yield address
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=15)


@pytest.fixture(scope="module")
def interop_without_reflection():
    server, address = start_interop("--no-reflection")
    yield address
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=15)


@pytest.fixture(scope="module")
def users(system):
    return f"127.0.0.1:{system.ports['users']}"


def ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return json.loads(result.stdout) if result.stdout.lstrip().startswith("{") else result.stdout


# --- list and describe ------------------------------------------------------------------------


def test_list_names_every_service_and_method_with_its_flags(users):
    listed = ok(souk_call(users, "list"))
    assert "souk.users.v1.UsersService\n  CreateUser(souk.users.v1.CreateUserRequest) returns (souk.users.v1.User)" in listed
    assert "  GetUser(souk.users.v1.GetUserRequest) returns (souk.users.v1.GetUserResponse)  [internal]" in listed
    assert "souk.rpc.v1.HealthService" in listed and "souk.rpc.v1.ReflectionService" in listed


def test_describe_shows_fields_with_their_comments_and_json_names(users):
    user = ok(souk_call(users, "describe", "souk.users.v1.User"))
    assert "message souk.users.v1.User {" in user
    assert "  string full_name = 3;  // JSON: fullName" in user
    assert "  google.protobuf.Timestamp created_at = 7;  // JSON: createdAt" in user
    assert user.count("  // ") >= 4, "the fields' comments"
    service = ok(souk_call(users, "describe", "souk.users.v1.UsersService"))
    assert "rpc GetUser(souk.users.v1.GetUserRequest) returns (souk.users.v1.GetUserResponse);  // internal" in service
    method = ok(souk_call(users, "describe", "souk.users.v1.UsersService.Authenticate"))
    assert method.rstrip().endswith("rpc Authenticate(souk.users.v1.AuthenticateRequest) returns (souk.users.v1.AuthenticateResponse);")
    missing = souk_call(users, "describe", "souk.users.v1.Usr")
    assert missing.returncode == 5 and "did you mean souk.users.v1.User" in missing.stderr


# --- calls to the users service -----------------------------------------------------------------


def test_a_sign_up_and_sign_in_with_metadata(users, tmp_path):
    email = f"call-{uuid.uuid4().hex[:8]}@example.com"
    created = ok(souk_call(users, "souk.users.v1.UsersService/CreateUser",
                           json.dumps({"email": email, "password": "correct horse battery", "fullName": "Ada"})))
    assert created["email"] == email and created["fullName"] == "Ada" and "createdAt" in created
    request = tmp_path / "sign-in.json"
    request.write_text(json.dumps({"email": email, "password": "correct horse battery"}))
    token = ok(souk_call(users, "souk.users.v1.UsersService/Authenticate", "-d", f"@{request}"))["accessToken"]
    me = ok(souk_call("-H", f"authorization: Bearer {token}", users, "souk.users.v1.UsersService/GetCurrentUser",
                      stdin="{}"))
    assert me["id"] == created["id"]
    refused = souk_call(users, "souk.users.v1.UsersService/GetCurrentUser", "{}")
    assert refused.returncode == 16, refused
    assert "Code: UNAUTHENTICATED" in refused.stderr and "Message:" in refused.stderr


def test_a_status_with_details_prints_them_and_exits_with_its_code(users):
    invalid = souk_call(users, "souk.users.v1.UsersService/CreateUser", '{"email": "not-an-email", "password": "x"}')
    assert invalid.returncode == 3
    assert "Code: INVALID_ARGUMENT" in invalid.stderr and "Details:" in invalid.stderr and '"field": "email"' in invalid.stderr


def test_a_json_field_of_the_wrong_type_is_named_before_anything_is_sent(users):
    wrong = souk_call(users, "souk.users.v1.UsersService/CreateUser", '{"email": 5}')
    assert wrong.returncode == 3 and "email" in wrong.stderr and "expected" in wrong.stderr, wrong
    unknown = souk_call(users, "souk.users.v1.UsersService/CreateUser", '{"nickname": "x"}')
    assert unknown.returncode == 3 and "nickname" in unknown.stderr, unknown
    not_json = souk_call(users, "souk.users.v1.UsersService/CreateUser", "{email:")
    assert not_json.returncode == 3, not_json


def test_a_method_that_does_not_exist_lists_the_near_names(users):
    typo = souk_call(users, "souk.users.v1.UsersService/Authentcate", "{}")
    assert typo.returncode == 12 and "did you mean souk.users.v1.UsersService/Authenticate" in typo.stderr, typo
    service = souk_call(users, "souk.users.v1.UserService/Authenticate", "{}")
    assert service.returncode in (5, 12) and "souk.users.v1.UsersService" in service.stderr, service


# --- the interop server, whose contracts souk was not built with ------------------------------


def test_interop_empty_and_large_unary(interop):
    assert ok(souk_call(interop, f"{INTEROP}/EmptyCall", "{}")) == {}
    large = ok(souk_call(interop, f"{INTEROP}/UnaryCall", '{"responseSize": 314159}'))
    assert base64.b64decode(large["payload"]) == bytes(314159)
    echoed = ok(souk_call(interop, f"{INTEROP}/UnaryCall", json.dumps({"payload": base64.b64encode(b"\x00\xffhi").decode()})))
    assert base64.b64decode(echoed["payload"]) == b"\x00\xffhi"


def test_interop_metadata_reaches_the_server(interop):
    echoed = ok(souk_call("-H", "x-user-agent: souk-call-test", "-H", "x-trace: 7", interop, f"{INTEROP}/UnaryCall",
                          '{"echoMetadata": true}'))
    entries = [(entry["key"], entry.get("text")) for entry in echoed["echoedMetadata"]]
    assert ("x-user-agent", "souk-call-test") in entries and ("x-trace", "7") in entries


@pytest.mark.parametrize("code", range(1, 17))
def test_interop_every_status_code_is_the_exit_status(interop, code):
    failed = souk_call(interop, f"{INTEROP}/UnaryCall",
                       json.dumps({"responseStatus": {"code": code, "message": f"status {code}"}}))
    assert failed.returncode == code, failed
    assert f"Code: {STATUS_NAMES[code]}" in failed.stderr and f"Message: status {code}" in failed.stderr


def test_interop_the_deadline_ends_the_call(interop):
    started = time.monotonic()
    late = souk_call("--timeout", "300ms", interop, f"{INTEROP}/UnaryCall", '{"sleepMs": 5000}')
    assert late.returncode == 4 and "DEADLINE_EXCEEDED" in late.stderr, late
    assert time.monotonic() - started < 4.5, "the call waited out the server's 5 s sleep: the deadline did not end it"


def test_interop_emit_defaults_and_proto_names(interop):
    assert ok(souk_call("--emit-defaults", interop, f"{INTEROP}/UnaryCall", "{}")) == {"payload": "", "echoedMetadata": []}
    named = ok(souk_call("--proto-names", "-H", "x-a: b", interop, f"{INTEROP}/UnaryCall", '{"echo_metadata": true}'))
    assert named == {"echoed_metadata": [{"key": "x-a", "text": "b"}]}


def test_interop_health_and_reflection_are_callable_too(interop):
    assert ok(souk_call(interop, "souk.rpc.v1.HealthService/Check", "{}")) == {"status": "SERVING_STATUS_SERVING"}
    listed = ok(souk_call(interop, "souk.rpc.v1.ReflectionService/ListServices", "{}"))
    assert INTEROP in [service["name"] for service in listed["services"]]


def test_without_reflection_a_protoset_or_the_proto_files_stand_in(interop_without_reflection, tmp_path):
    address = interop_without_reflection
    refused = souk_call(address, "list")
    assert refused.returncode == 12 and "--protoset" in refused.stderr, refused
    protoset = tmp_path / "interop.binpb"
    subprocess.run(["protoc", "-I", str(ROOT / "Tests" / "Protos"), "-I", str(ROOT / "Protos"), "-I", "/usr/include",
                    "--include_imports", f"--descriptor_set_out={protoset}", "souk/test/v1/interop.proto"], check=True)
    assert INTEROP in ok(souk_call("--protoset", str(protoset), address, "list"))
    answered = ok(souk_call("--protoset", str(protoset), address, f"{INTEROP}/UnaryCall", '{"responseSize": 3}'))
    assert answered == {"payload": "AAAA"}
    from_protos = ok(souk_call("--proto-path", str(ROOT / "Tests" / "Protos"), "--proto-path", str(ROOT / "Protos"),
                               address, f"{INTEROP}/UnaryCall", '{"responseSize": 3}'))
    assert from_protos == {"payload": "AAAA"}
