"""What the Swift protoc plugin refuses, and how it says so: one line naming the file and the field.

Debian's protoc-c 1.4.1 cannot compile proto3 `optional`, and SoukProtobuf carries only some
well-known types; Tools/generate runs the plugin before protoc-c so that these are reported
clearly. The plugin is built like the contract tool (see test_contract_roundtrip.swift_tool).
"""

import functools
import os
import subprocess
from pathlib import Path

import pytest

from test_contract_roundtrip import ROOT, swift_executable


@functools.cache
def plugin():
    command = [swift_executable(), "build", "--product", "protoc-gen-souk"]
    if os.environ.get("SOUK_SWIFT_SCRATCH"):
        command += ["--scratch-path", os.environ["SOUK_SWIFT_SCRATCH"]]
    built = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    shown = subprocess.run(command + ["--show-bin-path"], cwd=ROOT, capture_output=True, text=True)
    return Path(shown.stdout.strip().splitlines()[-1]) / "protoc-gen-souk"


def generate(tmp_path, text):
    """Runs protoc with the plugin on one file, souk/x/v1/x.proto holding `text`; returns (code, stderr)."""
    folder = tmp_path / "souk" / "x" / "v1"
    folder.mkdir(parents=True)
    (folder / "x.proto").write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        ["protoc", f"-I{tmp_path}", "-I/usr/include", f"--plugin=protoc-gen-souk={plugin()}",
         f"--souk_out=CModule=X:{out}", "souk/x/v1/x.proto"],
        capture_output=True, text=True)
    return result.returncode, result.stderr


def test_proto3_optional_is_refused_naming_file_and_field(tmp_path):
    code, stderr = generate(tmp_path, 'syntax = "proto3";\npackage souk.x.v1;\n'
                                      "message Profile { string id = 1; optional string nickname = 2; }\n")
    assert code != 0
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "souk/x/v1/x.proto: field souk.x.v1.Profile.nickname is proto3 `optional`" in lines[0], stderr
    assert "google.protobuf.StringValue" in lines[0], stderr


@pytest.mark.parametrize("name", ["any", "struct"])
def test_unsupported_well_known_types_are_refused(tmp_path, name):
    type_name = {"any": "Any", "struct": "Struct"}[name]
    code, stderr = generate(tmp_path, f'syntax = "proto3";\npackage souk.x.v1;\nimport "google/protobuf/{name}.proto";\n'
                                      f"message Holder {{ google.protobuf.{type_name} thing = 1; }}\n")
    assert code != 0
    assert f"souk/x/v1/x.proto: field souk.x.v1.Holder.thing uses google.protobuf.{type_name}" in stderr, stderr


def test_supported_well_known_types_generate(tmp_path):
    code, stderr = generate(tmp_path, 'syntax = "proto3";\npackage souk.x.v1;\n'
                                      'import "google/protobuf/timestamp.proto";\nimport "google/protobuf/wrappers.proto";\n'
                                      "message Event { google.protobuf.Timestamp at = 1; google.protobuf.Int64Value count = 2; }\n")
    assert code == 0, stderr
    swift = (tmp_path / "out" / "souk_x_v1_x.pb.swift").read_text(encoding="utf-8")
    assert "public var at: Google_Protobuf_Timestamp? = nil" in swift
    assert "public var count: Int64? = nil" in swift
