"""Tests of Tools/proto-breaking, the wire-compatibility check of the contracts.

Each test writes a baseline contract to a temporary folder, accepts it as the baseline,
writes a changed copy and runs the script on it as a subprocess with --baseline/--protos.
Needs protoc (protobuf-compiler) and /usr/include/google/protobuf (libprotobuf-dev).
"""

import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

SCRIPT = Path(__file__).resolve().parents[2] / "Tools" / "proto-breaking"
HINT = "if the break is intended, accept it with: Tools/proto-breaking --accept"

ITEMS = "souk/test/v1/items.proto"
COMMON = "souk/test/v1/common.proto"

BASE = {
    COMMON: """\
syntax = "proto3";
package souk.test.v1;

enum Color {
  COLOR_UNSPECIFIED = 0;
  COLOR_RED = 1;
  COLOR_GREEN = 2;
}

enum Size {
  SIZE_UNSPECIFIED = 0;
  SIZE_SMALL = 1;
}

message Money {
  int64 units = 1;
  string currency = 2;
}

message Unused {
  string x = 1;
}
""",
    ITEMS: """\
syntax = "proto3";
package souk.test.v1;

import "google/protobuf/timestamp.proto";
import "souk/test/v1/common.proto";

message Item {
  string id = 1;
  int64 amount = 2;
  repeated string tags = 3;
  Color color = 4;
  map<string, int64> counts = 5;
  oneof choice {
    string a = 6;
    int32 b = 7;
  }
  string note = 8;
  google.protobuf.Timestamp created = 9;
  Money price = 10;
}

message GetItemRequest {
  string id = 1;
}

message ListItemsRequest {
  int32 page_size = 1;
}

service Items {
  rpc GetItem(GetItemRequest) returns (Item);
  rpc ListItems(ListItemsRequest) returns (Item);
}

service Admin {
  rpc Purge(GetItemRequest) returns (GetItemRequest);
}
""",
}


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def write_protos(folder, files):
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def changed(file, old, new):
    """A copy of BASE with `old` replaced by `new` in `file` (old must occur exactly once)."""
    assert BASE[file].count(old) == 1, f"{old!r} must occur once in {file}"
    files = dict(BASE)
    files[file] = BASE[file].replace(old, new)
    return files


@pytest.fixture
def baseline(tmp_path):
    protos = write_protos(tmp_path / "base", BASE)
    path = tmp_path / "baseline.binpb"
    result = run("--accept", "--baseline", path, "--protos", protos)
    assert result.returncode == 0, result.stdout + result.stderr
    return path


def check(tmp_path, baseline, files):
    protos = write_protos(tmp_path / "current", files)
    return run("--baseline", baseline, "--protos", protos)


def assert_breaks(result, *expected):
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    for text in expected:
        assert text in output, output
    assert result.stdout.rstrip("\n").splitlines()[-1].startswith(HINT), output


def assert_passes(result):
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "no wire-incompatible changes" in output, output


BREAKING = {
    "remove field": (ITEMS, "  int64 amount = 2;\n", "",
                     ['message souk.test.v1.Item: field 2 "amount" removed']),
    "renumber field": (ITEMS, "int64 amount = 2;", "int64 amount = 12;",
                       ['field 2 "amount" renumbered to 12']),
    "change scalar type": (ITEMS, "int64 amount = 2;", "string amount = 2;",
                           ['field 2 "amount" type changed from int64 to string']),
    "change enum to scalar": (ITEMS, "Color color = 4;", "int32 color = 4;",
                              ["type changed from enum souk.test.v1.Color to int32"]),
    "change message type": (ITEMS, "Money price = 10;", "GetItemRequest price = 10;",
                            ["type changed from message souk.test.v1.Money to message souk.test.v1.GetItemRequest"]),
    "repeated to singular": (ITEMS, "repeated string tags = 3;", "string tags = 3;",
                             ['field 3 "tags" cardinality changed from repeated to singular']),
    "singular to repeated": (ITEMS, "string id = 1;\n  int64", "repeated string id = 1;\n  int64",
                             ['field 1 "id" cardinality changed from singular to repeated']),
    "map to repeated": (ITEMS, "map<string, int64> counts = 5;", "repeated string counts = 5;",
                        ["cardinality changed from map to repeated"]),
    "change map value type": (ITEMS, "map<string, int64> counts = 5;", "map<string, string> counts = 5;",
                              ["type changed from map<string, int64> to map<string, string>"]),
    "move into oneof": (ITEMS, "    int32 b = 7;\n  }\n  string note = 8;", "    int32 b = 7;\n    string note = 8;\n  }",
                        ['field 8 "note" moved into oneof choice']),
    "move out of oneof": (ITEMS, "    int32 b = 7;\n  }", "  }\n  int32 b = 7;",
                          ['field 7 "b" moved out of oneof choice']),
    "remove message": (COMMON, "message Unused {\n  string x = 1;\n}\n", "",
                       ["message souk.test.v1.Unused: message removed"]),
    "remove enum": (COMMON, "enum Size {\n  SIZE_UNSPECIFIED = 0;\n  SIZE_SMALL = 1;\n}\n", "",
                    ["enum souk.test.v1.Size: enum removed"]),
    "remove enum value": (COMMON, "  COLOR_GREEN = 2;\n", "",
                          ["enum souk.test.v1.Color: value 2 COLOR_GREEN removed"]),
    "remove rpc": (ITEMS, "  rpc ListItems(ListItemsRequest) returns (Item);\n", "",
                   ["service souk.test.v1.Items: rpc ListItems removed"]),
    "rename rpc": (ITEMS, "rpc ListItems(", "rpc ListAllItems(",
                   ["service souk.test.v1.Items: rpc ListItems removed"]),
    "change rpc input": (ITEMS, "rpc GetItem(GetItemRequest)", "rpc GetItem(ListItemsRequest)",
                         ["rpc GetItem: input type changed from souk.test.v1.GetItemRequest to souk.test.v1.ListItemsRequest"]),
    "change rpc output": (ITEMS, "rpc ListItems(ListItemsRequest) returns (Item);",
                          "rpc ListItems(ListItemsRequest) returns (GetItemRequest);",
                          ["rpc ListItems: output type changed from souk.test.v1.Item to souk.test.v1.GetItemRequest"]),
    "make rpc streaming": (ITEMS, "returns (Item);\n}", "returns (stream Item);\n}",
                           ["rpc ListItems: server streaming changed from False to True"]),
    "remove service": (ITEMS, "service Admin {\n  rpc Purge(GetItemRequest) returns (GetItemRequest);\n}\n", "",
                       ["service souk.test.v1.Admin: service removed"]),
}


@pytest.mark.parametrize("name", sorted(BREAKING))
def test_breaking_change_fails(tmp_path, baseline, name):
    file, old, new, expected = BREAKING[name]
    assert_breaks(check(tmp_path, baseline, changed(file, old, new)), *expected)


COMPATIBLE = {
    "unchanged": (ITEMS, "string id = 1;\n  int64", "string id = 1;\n  int64"),
    "add field": (ITEMS, "Money price = 10;", "Money price = 10;\n  string extra = 11;"),
    "add field to oneof": (ITEMS, "int32 b = 7;", "int32 b = 7;\n    bool c = 12;"),
    "add message": (COMMON, "message Unused {", "message Added {\n  int32 y = 1;\n}\n\nmessage Unused {"),
    "add rpc": (ITEMS, "rpc GetItem(GetItemRequest) returns (Item);",
                "rpc GetItem(GetItemRequest) returns (Item);\n  rpc DeleteItem(GetItemRequest) returns (Item);"),
    "add service": (ITEMS, "service Admin {", "service More {\n  rpc X(Item) returns (Item);\n}\n\nservice Admin {"),
    "add enum value": (COMMON, "COLOR_GREEN = 2;", "COLOR_GREEN = 2;\n  COLOR_BLUE = 3;"),
    "remove reserved field": (ITEMS, "  int64 amount = 2;\n", '  reserved 2;\n  reserved "amount";\n'),
    "remove field reserved by range": (ITEMS, "  int64 amount = 2;\n", "  reserved 2 to 2;\n"),
    "remove reserved enum value": (COMMON, "  COLOR_GREEN = 2;\n", "  reserved 2;\n"),
    "singular to proto3 optional": (ITEMS, "string note = 8;", "optional string note = 8;"),
    "rename oneof": (ITEMS, "oneof choice {", "oneof pick {"),
}


@pytest.mark.parametrize("name", sorted(COMPATIBLE))
def test_compatible_change_passes(tmp_path, baseline, name):
    file, old, new = COMPATIBLE[name]
    assert_passes(check(tmp_path, baseline, changed(file, old, new)))


def test_rename_field_passes_with_a_warning(tmp_path, baseline):
    result = check(tmp_path, baseline, changed(ITEMS, "string note = 8;", "string remark = 8;"))
    assert_passes(result)
    assert 'warning: ' in result.stdout and 'field 8 "note" renamed to "remark"' in result.stdout, result.stdout


def test_move_message_to_another_file_of_the_same_package_passes(tmp_path, baseline):
    money = "message Money {\n  int64 units = 1;\n  string currency = 2;\n}\n"
    files = dict(BASE)
    files[COMMON] = BASE[COMMON].replace(money, "")
    files["souk/test/v1/money.proto"] = 'syntax = "proto3";\npackage souk.test.v1;\n\n' + money
    files[ITEMS] = BASE[ITEMS].replace('import "souk/test/v1/common.proto";',
                                       'import "souk/test/v1/common.proto";\nimport "souk/test/v1/money.proto";')
    assert_passes(check(tmp_path, baseline, files))


def test_change_of_package_removes_everything(tmp_path, baseline):
    files = {name: text.replace("package souk.test.v1;", "package souk.test.v2;")
                       .replace("souk/test/v1/", "souk/test/v2/")
             for name, text in BASE.items()}
    files = {name.replace("/v1/", "/v2/"): text for name, text in files.items()}
    assert_breaks(check(tmp_path, baseline, files),
                  "message souk.test.v1.Item: message removed",
                  "service souk.test.v1.Items: service removed")


def test_several_violations_are_each_reported_on_one_line(tmp_path, baseline):
    files = changed(ITEMS, "int64 amount = 2;", "string amount = 2;")
    files[COMMON] = files[COMMON].replace("  COLOR_GREEN = 2;\n", "")
    result = check(tmp_path, baseline, files)
    assert_breaks(result)
    violations = [line for line in result.stdout.splitlines() if line.startswith(str(tmp_path / "current"))]
    assert len(violations) == 2, result.stdout
    assert all(": message " in line or ": enum " in line for line in violations), result.stdout


def test_accept_writes_a_descriptor_set_without_source_info(baseline):
    fds = descriptor_pb2.FileDescriptorSet.FromString(baseline.read_bytes())
    names = [f.name for f in fds.file]
    assert {ITEMS, COMMON, "google/protobuf/timestamp.proto"} <= set(names)
    assert not any(f.HasField("source_code_info") for f in fds.file)


def test_accept_rewrites_the_baseline_after_a_break(tmp_path, baseline):
    protos = write_protos(tmp_path / "current", changed(COMMON, "  COLOR_GREEN = 2;\n", ""))
    assert run("--baseline", baseline, "--protos", protos).returncode == 1
    accepted = run("--accept", "--baseline", baseline, "--protos", protos)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "accepting: " in accepted.stdout and "COLOR_GREEN" in accepted.stdout
    assert_passes(run("--baseline", baseline, "--protos", protos))


def test_missing_baseline_tells_how_to_create_it(tmp_path):
    protos = write_protos(tmp_path / "base", BASE)
    result = run("--baseline", tmp_path / "nothing.binpb", "--protos", protos)
    assert result.returncode != 0
    assert "--accept" in result.stderr, result.stderr


def test_a_proto_that_does_not_compile_fails(tmp_path, baseline):
    result = check(tmp_path, baseline, changed(ITEMS, "string id = 1;\n  int64", "strin id = 1;\n  int64"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "protoc could not compile" in result.stderr


def test_changes_to_google_files_are_not_compared(tmp_path):
    # A baseline with a google.protobuf file that the current descriptor set lacks.
    base = write_protos(tmp_path / "base", changed(ITEMS, 'import "google/protobuf/timestamp.proto";\n', 'import "google/protobuf/timestamp.proto";\nimport "google/protobuf/duration.proto";\n'))
    path = tmp_path / "baseline.binpb"
    assert run("--accept", "--baseline", path, "--protos", base).returncode == 0
    assert_passes(check(tmp_path, path, BASE))
