"""Well-known types in JSON: Google's Python json_format against Swift, both directions.

Samples of `souk.test.v1.WellKnownValues` (Tests/Protos: every well-known type Souk
supports, singular, repeated, in a map and in a oneof) and of the well-known messages
themselves are written by Python as binary and JSON; the Swift tool
`souk-contract-roundtrip` reads them and writes them back (see test_contract_roundtrip.py).
Python must read back the same message, and the JSON text of each value must be the one
Python writes: the same Timestamp string, to the fractional digit. Inputs only one way
(offsets, fewer fractional digits) must decode to the message Python decodes, and invalid
inputs must be refused by both.
"""

import atexit
import functools
import importlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from google.protobuf import duration_pb2, field_mask_pb2, json_format, timestamp_pb2, wrappers_pb2

from test_contract_roundtrip import (
    ROOT, assert_same_message, full_json, normalised, read_output, swift_tool)

TEST_PROTOS = ROOT / "Tests" / "Protos"


@functools.cache
def well_known_values():
    """The Python class of souk.test.v1.WellKnownValues, compiled from Tests/Protos."""
    import grpc_tools

    out = Path(tempfile.mkdtemp(prefix="souk-well-known-python-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    include = Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(p.relative_to(TEST_PROTOS).as_posix() for p in TEST_PROTOS.rglob("*.proto"))
    result = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{TEST_PROTOS}", f"-I{ROOT / 'Protos'}", f"-I{include}",
         f"--python_out={out}", *protos],
        capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"grpc_tools.protoc failed:\n{result.stdout}{result.stderr}")
    sys.path.insert(0, str(out))
    importlib.invalidate_caches()
    return importlib.import_module("souk.test.v1.everything_pb2").WellKnownValues


def timestamp(seconds, nanos=0):
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def duration(seconds, nanos=0):
    return duration_pb2.Duration(seconds=seconds, nanos=nanos)


# (name, seconds, nanos): leap days, a century that is not a leap year, the first and last
# instants with a JSON form, each precision of nanoseconds, and instants before 1970.
TIMESTAMPS = [
    ("epoch", 0, 0),
    ("leap-day-2024", 1_709_251_199, 999_999_999),   # 2024-02-29T23:59:59.999999999Z
    ("leap-day-2000", 951_782_400, 0),               # 2000-02-29T00:00:00Z
    ("not-leap-1900", -2_203_891_200, 0),            # 1900-03-01T00:00:00Z
    ("year-0001", -62_135_596_800, 0),
    ("year-9999", 253_402_300_799, 999_999_999),
    ("millis", 1_709_211_909, 120_000_000),
    ("micros", 1_709_211_909, 120_500_000),
    ("nanos", 1_709_211_909, 1),
    ("before-1970", -1, 999_000_000),
]
DURATIONS = [("zero", 0, 0), ("one-and-a-half", 1, 500_000_000), ("negative-fraction", 0, -250_000_000),
             ("negative", -3600, -1000), ("nanosecond", 0, 1), ("max", 315_576_000_000, 999_999_999),
             ("min", -315_576_000_000, -999_999_999)]
FIELD_MASKS = [("empty", []), ("one", ["full_name"]), ("nested", ["address.post_code", "id", "a.b.c_d"])]


def samples():
    """(name, WellKnownValues) pairs that both runtimes must agree on."""
    WellKnownValues = well_known_values()
    result = [("absent", WellKnownValues())]
    result += [(f"timestamp-{name}", WellKnownValues(timestamp=timestamp(s, n))) for name, s, n in TIMESTAMPS]
    result += [(f"duration-{name}", WellKnownValues(duration=duration(s, n))) for name, s, n in DURATIONS]
    for name, paths in FIELD_MASKS:
        message = WellKnownValues()
        message.field_mask.paths[:] = paths
        message.field_mask.SetInParent()
        result.append((f"field-mask-{name}", message))
    zeros = WellKnownValues()
    for field in ("double_value", "float_value", "int64_value", "uint64_value", "int32_value", "uint32_value",
                  "bool_value", "string_value", "bytes_value"):
        getattr(zeros, field).SetInParent()  # present, holding the zero value
    zeros.empty.SetInParent()
    result.append(("wrappers-present-zero", zeros))
    extremes = WellKnownValues(
        double_value=wrappers_pb2.DoubleValue(value=-1.5e300),
        float_value=wrappers_pb2.FloatValue(value=float("inf")),
        int64_value=wrappers_pb2.Int64Value(value=-2**63), uint64_value=wrappers_pb2.UInt64Value(value=2**64 - 1),
        int32_value=wrappers_pb2.Int32Value(value=-2**31), uint32_value=wrappers_pb2.UInt32Value(value=2**32 - 1),
        bool_value=wrappers_pb2.BoolValue(value=True), string_value=wrappers_pb2.StringValue(value='Grüße "🚀"\n'),
        bytes_value=wrappers_pb2.BytesValue(value=b"\x00\xff\xfe"))
    result.append(("wrappers-extremes", extremes))
    lists = WellKnownValues(timestamps=[timestamp(0), timestamp(-62_135_596_800, 5)],
                            string_values=[wrappers_pb2.StringValue(value="a"), wrappers_pb2.StringValue()])
    lists.durations["short"].CopyFrom(duration(0, 1))
    lists.durations["long"].CopyFrom(duration(86_400))
    lists.choice_int64.CopyFrom(wrappers_pb2.Int64Value(value=0))
    result.append(("lists-maps-oneof-wrapper", lists))
    result.append(("oneof-timestamp", WellKnownValues(choice_timestamp=timestamp(1, 1))))
    return result


# JSON that only goes one way: Python reads it, and Swift must read the same message.
ONE_WAY_INPUTS = [
    ("offset-plus", '{"timestamp": "2024-02-29T14:05:09+01:00"}'),
    ("offset-minus-fraction", '{"timestamp": "2024-02-29T08:35:09.5-04:30"}'),
    ("offset-across-a-day", '{"timestamp": "2024-03-01T00:05:09+10:00"}'),
    ("offset-to-year-0001", '{"timestamp": "0001-01-01T01:00:00+01:00"}'),
    ("fraction-7-digits", '{"timestamp": "1970-01-01T00:00:00.1234567Z"}'),
    ("duration-2-digits", '{"duration": "-1.05s"}'),
    ("int64-wrapper-as-number", '{"int64Value": 12, "uint32Value": "7"}'),
    ("nulls-are-absent", '{"timestamp": null, "int64Value": null, "fieldMask": null, "empty": null}'),
    ("proto-names", '{"field_mask": "fullName,id", "string_value": "x", "choice_timestamp": "2000-01-01T00:00:00Z"}'),
]

# JSON both runtimes refuse.
INVALID_INPUTS = [
    ("timestamp-feb-30", '{"timestamp": "2024-02-30T00:00:00Z"}'),
    ("timestamp-not-leap", '{"timestamp": "2023-02-29T00:00:00Z"}'),
    ("timestamp-space", '{"timestamp": "2024-01-01 00:00:00Z"}'),
    ("timestamp-no-zone", '{"timestamp": "2024-01-01T00:00:00"}'),
    ("timestamp-leap-second", '{"timestamp": "2024-01-01T00:00:60Z"}'),
    ("timestamp-10-digits", '{"timestamp": "2024-01-01T00:00:00.1234567890Z"}'),
    ("timestamp-year-0", '{"timestamp": "0000-12-31T23:59:59Z"}'),
    ("timestamp-year-10000", '{"timestamp": "10000-01-01T00:00:00Z"}'),
    ("timestamp-number", '{"timestamp": 0}'),
    ("timestamp-object", '{"timestamp": {"seconds": 1}}'),
    ("duration-no-unit", '{"duration": "1"}'),
    ("duration-minutes", '{"duration": "1m"}'),
    ("duration-too-long", '{"duration": "315576000001s"}'),
    ("field-mask-underscore", '{"fieldMask": "full_name"}'),
    ("field-mask-list", '{"fieldMask": ["fullName"]}'),
    ("bool-wrapper-string", '{"boolValue": "true"}'),
    ("int32-wrapper-too-big", '{"int32Value": 2147483648}'),
    ("empty-with-member", '{"empty": {"x": 1}}'),
]

NAME = "souk.test.v1.WellKnownValues"


@pytest.fixture(scope="module")
def swift_output(tmp_path_factory):
    folder = tmp_path_factory.mktemp("well-known-json")
    for name, message in samples():
        (folder / f"{NAME}#{name}.bin").write_bytes(message.SerializeToString())
        (folder / f"{NAME}#{name}.json").write_text(json_format.MessageToJson(message), encoding="utf-8")
    for name, text in ONE_WAY_INPUTS + INVALID_INPUTS:
        (folder / f"{NAME}#in-{name}.json").write_text(text, encoding="utf-8")
    # The well-known messages at the top level: their JSON is not an object.
    tops = [("google.protobuf.Timestamp#top", timestamp(1_709_211_909, 120_000_000)),
            ("google.protobuf.Duration#top", duration(-1, -500_000_000)),
            ("google.protobuf.FieldMask#top", field_mask_pb2.FieldMask(paths=["a_b", "c"])),
            ("google.protobuf.Int64Value#top", wrappers_pb2.Int64Value(value=2**53 + 1)),
            ("google.protobuf.BytesValue#top", wrappers_pb2.BytesValue(value=b"\x01\x02\x03\x04"))]
    for name, message in tops:
        (folder / f"{name}.bin").write_bytes(message.SerializeToString())
        (folder / f"{name}.json").write_text(json_format.MessageToJson(message), encoding="utf-8")
    result = subprocess.run([str(swift_tool()), str(folder)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    folder.joinpath("tops.json").write_text(json.dumps([name for name, _ in tops]))
    return folder


@pytest.mark.parametrize("name,message", samples(), ids=[name for name, _ in samples()])
def test_swift_writes_what_python_writes(swift_output, name, message):
    """Binary from Python -> Swift -> JSON: the text of every value is Python's, and Python reads it back."""
    sample = f"{NAME}#{name}"
    text = read_output(swift_output, sample, ".swift.json").decode("utf-8")
    assert normalised(json.loads(text)) == normalised(json.loads(json_format.MessageToJson(message))), text
    assert_same_message(message, json_format.Parse(text, type(message)()), f"{sample}.swift.json")
    again = type(message)()
    again.ParseFromString(read_output(swift_output, sample, ".swift.bin"))
    assert_same_message(message, again, f"{sample}.swift.bin")


@pytest.mark.parametrize("name,message", samples(), ids=[name for name, _ in samples()])
def test_swift_writes_every_field_as_python_does(swift_output, name, message):
    """emitUnpopulated against always_print_fields_with_no_presence (plus null for absent
    messages and wrappers, as Go's protojson); Python reads Swift's output back."""
    sample = f"{NAME}#{name}"
    text = read_output(swift_output, sample, ".swift.full.json").decode("utf-8")
    assert normalised(json.loads(text)) == normalised(full_json(message)), text
    assert_same_message(message, json_format.Parse(text, type(message)()), f"{sample}.swift.full.json")
    names = read_output(swift_output, sample, ".swift.names.json").decode("utf-8")
    expected = json_format.MessageToJson(message, preserving_proto_field_name=True)
    assert normalised(json.loads(names)) == normalised(json.loads(expected)), names


@pytest.mark.parametrize("name,message", samples(), ids=[name for name, _ in samples()])
def test_swift_reads_what_python_writes(swift_output, name, message):
    sample = f"{NAME}#{name}"
    got = type(message)()
    got.ParseFromString(read_output(swift_output, sample, ".fromjson.bin"))
    assert_same_message(message, got, f"{sample}.fromjson.bin")


@pytest.mark.parametrize("name,text", ONE_WAY_INPUTS, ids=[name for name, _ in ONE_WAY_INPUTS])
def test_swift_reads_inputs_as_python_does(swift_output, name, text):
    expected = json_format.Parse(text, well_known_values()())
    got = well_known_values()()
    got.ParseFromString(read_output(swift_output, f"{NAME}#in-{name}", ".fromjson.bin"))
    assert_same_message(expected, got, f"{name}.fromjson.bin")
    # And the UTC form Swift writes is the one Python writes.
    written = read_output(swift_output, f"{NAME}#in-{name}", ".fromjson.json").decode("utf-8")
    assert normalised(json.loads(written)) == normalised(json.loads(json_format.MessageToJson(expected)))


@pytest.mark.parametrize("name,text", INVALID_INPUTS, ids=[name for name, _ in INVALID_INPUTS])
def test_both_refuse_invalid_inputs(swift_output, name, text):
    with pytest.raises(json_format.ParseError):
        json_format.Parse(text, well_known_values()())
    error = swift_output / f"{NAME}#in-{name}.error.txt"
    assert error.exists(), f"Swift accepted {text}"
    message = error.read_text(encoding="utf-8")
    assert message.startswith("json decode: "), message
    assert "field " in message or " at " in message, message  # it names where
    assert not (swift_output / f"{NAME}#in-{name}.fromjson.bin").exists()


def test_top_level_well_known_messages(swift_output):
    """A Timestamp, Duration, FieldMask or wrapper alone is a JSON string or bare value."""
    for name in json.loads((swift_output / "tops.json").read_text()):
        python = json.loads((swift_output / f"{name}.json").read_text(encoding="utf-8"))
        for suffix in (".swift.json", ".fromjson.json"):
            assert json.loads(read_output(swift_output, name, suffix)) == python, f"{name}{suffix}"


def test_values_without_a_json_form_are_refused_by_both():
    """A Timestamp past year 9999 encodes in binary but has no JSON form: Python raises, Swift throws
    (tested in Swift: WellKnownTypesTests); here, that Python refuses it, so both agree."""
    with pytest.raises(json_format.SerializeToJsonError):
        json_format.MessageToJson(well_known_values()(timestamp=timestamp(253_402_300_800)))
