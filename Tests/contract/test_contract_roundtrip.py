"""Cross-language contract test: Google's Python protobuf runtime against our Swift types.

For every message of every souk.* contract under Protos/ (souk.api.v1, the method
options, has no Swift types), Python builds samples generically from the descriptors:
every field set to a non-default value (one sample per member of the largest oneof,
so that every oneof member is covered), one with every field at its default, one with
enums holding undeclared numbers, one per oneof member set to its default value. It
writes each as binary (`<name>.bin`) and as proto3 JSON (`<name>.json`, from
json_format with its defaults; also in its other options as `<name>#alt-json`), runs the Swift tool `souk-contract-roundtrip` over the folder once, and
checks that what Swift wrote back (`.swift.bin`, `.swift.json`, `.fromjson.bin`,
`.fromjson.json`) means exactly the original message to Python. Hostile inputs
(U+0000 and invalid UTF-8 in strings, unknown JSON fields) must be refused by Swift.

The Python classes are generated with grpc_tools' protoc into a temporary folder at
collection time. The Swift tool is found with `swift build --show-bin-path` (with
`--scratch-path $SOUK_SWIFT_SCRATCH` when that is set) and built only when missing:
Tools/test builds it before running pytest; when running pytest alone after changing
Swift code, build it first (`swift build --product souk-contract-roundtrip`).
"""

import atexit
import functools
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.unknown_fields import UnknownFieldSet

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "Protos"
TOOL = "souk-contract-roundtrip"
# Contract packages without Swift types: the method options of annotations.proto.
NO_SWIFT_PACKAGES = {"souk.api.v1"}
# Sub-messages are filled down to this depth (the contracts have no recursion).
MAX_DEPTH = 6


# --- The Python side of the contracts ---------------------------------------------------


TEST_PROTOS = ROOT / "Tests" / "Protos"


def compile_to_python(root, *imports):
    """Compiles every .proto under `root` to Python in a temporary folder put on the path (the
    generated `souk` namespace package spans every such folder), imports it, and returns the file
    descriptors by proto file name. `imports`: further folders its imports are found in."""
    import grpc_tools

    out = Path(tempfile.mkdtemp(prefix="souk-contract-python-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    include = Path(grpc_tools.__file__).parent / "_proto"  # google/protobuf/descriptor.proto
    protos = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.proto"))
    result = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{root}", *(f"-I{folder}" for folder in imports), f"-I{include}",
         f"--python_out={out}", *protos],
        capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"grpc_tools.protoc failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    sys.path.insert(0, str(out))
    importlib.invalidate_caches()
    return {proto: importlib.import_module(proto.removesuffix(".proto").replace("/", ".") + "_pb2").DESCRIPTOR
            for proto in protos}


@functools.cache
def python_contracts():
    """The contracts of Protos/, compiled to Python, by proto file name."""
    return compile_to_python(PROTOS)


@functools.cache
def python_test_contracts():
    """The test contracts of Tests/Protos (every construct the generator supports), by proto
    file name: for the descriptor-driven codec's byte-for-byte check."""
    python_contracts()  # souk/api/v1/annotations.proto, which they import, is importable from there
    return compile_to_python(TEST_PROTOS, PROTOS)


def _walk(descriptors):
    for descriptor in descriptors:
        if descriptor.GetOptions().map_entry:
            continue
        yield descriptor
        yield from _walk(descriptor.nested_types)


@functools.cache
def souk_messages():
    """Every message descriptor of the souk.* contracts, nested ones included, map entries
    excluded, sorted by full name."""
    found = {}
    for file in python_contracts().values():
        if file.package.startswith("souk."):
            for descriptor in _walk(file.message_types_by_name.values()):
                found[descriptor.full_name] = descriptor
    return [found[name] for name in sorted(found)]


@functools.cache
def contract_test_messages():
    """Every message of Tests/Protos, nested ones included, map entries excluded."""
    found = {}
    for file in python_test_contracts().values():
        for descriptor in _walk(file.message_types_by_name.values()):
            found[descriptor.full_name] = descriptor
    return [found[name] for name in sorted(found)]


def swift_messages():
    """The messages that have Swift types: all but those of NO_SWIFT_PACKAGES."""
    return [d for d in souk_messages() if d.file.package not in NO_SWIFT_PACKAGES]


def message_class(descriptor):
    return message_factory.GetMessageClass(descriptor)


# --- Sample values ---------------------------------------------------------------------

T = FieldDescriptor
EXTREMES = {
    "int32": (-2**31, 2**31 - 1, -1),
    "int64": (-2**63, 2**63 - 1, 2**53 + 1),  # 2**53 + 1 is not a double: JSON must quote it
    "uint32": (2**32 - 1, 1),
    "uint64": (2**64 - 1, 2**63 + 1),
    "double": (1.5e300, -2.5e-300, 0.1),
    "float": (3.25, -0.5, 0.1),
}
KIND = {
    T.TYPE_INT32: "int32", T.TYPE_SINT32: "int32", T.TYPE_SFIXED32: "int32",
    T.TYPE_INT64: "int64", T.TYPE_SINT64: "int64", T.TYPE_SFIXED64: "int64",
    T.TYPE_UINT32: "uint32", T.TYPE_FIXED32: "uint32",
    T.TYPE_UINT64: "uint64", T.TYPE_FIXED64: "uint64",
    T.TYPE_DOUBLE: "double", T.TYPE_FLOAT: "float",
}
# Every string has non-BMP text (surrogate pairs in Python's ASCII-only JSON), and the
# characters JSON must escape, but never U+0000.
TEXT = 'Grüße 世界 🚀 "q" \\ \n\t\x01\x1f\u2028 '


# Well-known types whose JSON form limits their values: valid ones, in turn. (The wrappers
# and Empty take any value, and are filled like any message.)
TIMESTAMPS = [(1_709_211_909, 120_000_000), (-62_135_596_800, 0), (253_402_300_799, 999_999_999),
              (951_782_400, 123_456_000), (-1, 1)]
DURATIONS = [(1, 500_000_000), (-315_576_000_000, 0), (0, -1), (3600, 1000)]
FIELD_MASKS = [["full_name"], ["address.post_code", "id"], []]


def fill_well_known(message, index):
    """Sets a Timestamp, Duration or FieldMask to a valid value; False for any other message."""
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        message.seconds, message.nanos = TIMESTAMPS[index % len(TIMESTAMPS)]
    elif name == "google.protobuf.Duration":
        message.seconds, message.nanos = DURATIONS[index % len(DURATIONS)]
    elif name == "google.protobuf.FieldMask":
        message.paths[:] = FIELD_MASKS[index % len(FIELD_MASKS)]
        message.SetInParent()
    else:
        return False
    return True


def is_special_json(descriptor):
    """A well-known type whose JSON is not an object (Empty is `{}`, like any message)."""
    return descriptor.full_name.startswith("google.protobuf.") and descriptor.full_name != "google.protobuf.Empty"


def is_map(field):
    return field.message_type is not None and field.message_type.GetOptions().map_entry


class Filler:
    """Sets every field of a message to a deterministic non-default value."""

    def __init__(self, undeclared_enums=False):
        self.counter = 0  # advances per field, so that neighbouring fields alternate extremes
        self.undeclared_enums = undeclared_enums  # enum fields hold numbers the enum does not declare

    def scalar(self, field, index):
        if field.type == T.TYPE_BOOL:
            return not (field.is_repeated and index % 2 == 1)  # repeated: True, False, True
        if field.type == T.TYPE_STRING:
            return f"{TEXT}{field.name} {self.counter}.{index}"
        if field.type == T.TYPE_BYTES:
            return b"\x00\xff\x00" + field.name.encode() + bytes(range(index))  # lengths vary: base64 padding
        if field.type == T.TYPE_ENUM:
            values = field.enum_type.values
            if self.undeclared_enums:  # proto3 enums are open: such numbers must survive
                return max(v.number for v in values) + 7 + index
            return values[-1 - index % len(values)].number  # the last declared value first
        values = EXTREMES[KIND[field.type]]
        return values[(self.counter + index) % len(values)]

    def map_key(self, field, index):
        if field.type == T.TYPE_BOOL:
            return index == 0
        if field.type == T.TYPE_STRING:
            return f"key {index} ✓"
        return self.scalar(field, index)

    def fill(self, message, variant=0, depth=0):
        descriptor = message.DESCRIPTOR
        if fill_well_known(message, self.counter + variant):
            return message
        chosen = {oneof.name: oneof.fields[variant % len(oneof.fields)].name for oneof in descriptor.oneofs}
        for field in descriptor.fields:
            oneof = field.containing_oneof
            if oneof is not None and chosen[oneof.name] != field.name:
                continue
            self.counter += 1
            self.set(message, field, variant, depth)
        return message

    def set(self, message, field, variant, depth):
        if is_map(field):
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            container = getattr(message, field.name)
            for index in range(2):
                key = self.map_key(key_field, index)
                if value_field.message_type is not None:
                    if depth < MAX_DEPTH:
                        self.fill(container[key], variant + index, depth + 1)
                else:
                    container[key] = self.scalar(value_field, index)
        elif field.is_repeated:
            container = getattr(message, field.name)
            for index in range(3):
                if field.message_type is not None:
                    if depth < MAX_DEPTH:
                        self.fill(container.add(), variant + index, depth + 1)
                else:
                    container.append(self.scalar(field, index))
        elif field.message_type is not None:
            if depth < MAX_DEPTH:
                child = getattr(message, field.name)
                child.SetInParent()
                self.fill(child, variant, depth + 1)
        else:
            setattr(message, field.name, self.scalar(field, 0))


def full_sample(descriptor, variant=0, undeclared_enums=False):
    return Filler(undeclared_enums).fill(message_class(descriptor)(), variant)


def oneof_default_sample(descriptor, member):
    """The full sample with `member` set to its default value: still set (a oneof member has presence)."""
    message = full_sample(descriptor)
    message.ClearField(member.name)
    if member.message_type is not None:
        getattr(message, member.name).SetInParent()
    else:
        setattr(message, member.name, member.default_value)
    assert message.WhichOneof(member.containing_oneof.name) == member.name
    return message


def variant_count(descriptor):
    """One sample per member of the largest oneof, so that every member is set once."""
    return max((len(oneof.fields) for oneof in descriptor.oneofs), default=1)


def string_fields(descriptor):
    return [f for f in descriptor.fields if f.type == T.TYPE_STRING and not is_map(f)]


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# --- The samples -----------------------------------------------------------------------


@dataclass
class Sample:
    name: str            # file name stem: <full.Name>#<what>
    descriptor: object
    message: object      # what Python encoded
    binary: bool = True  # written as <name>.bin
    json: bool = True    # written as <name>.json


def round_trip_samples():
    """Valid samples, which Swift must read and write back unchanged: every field set (one
    sample per member of the largest oneof), every field at its default, enums holding
    undeclared numbers, each oneof member set to its default value."""
    samples = []
    for descriptor in swift_messages():
        for variant in range(variant_count(descriptor)):
            samples.append(Sample(f"{descriptor.full_name}#{variant}", descriptor, full_sample(descriptor, variant)))
        samples.append(Sample(f"{descriptor.full_name}#empty", descriptor, message_class(descriptor)()))
        undeclared = full_sample(descriptor, undeclared_enums=True)
        if undeclared != full_sample(descriptor):  # the message has enum fields, maybe nested
            samples.append(Sample(f"{descriptor.full_name}#undeclared-enums", descriptor, undeclared))
        for oneof in descriptor.oneofs:
            for member in oneof.fields:
                samples.append(Sample(f"{descriptor.full_name}#default-{member.name}", descriptor,
                                      oneof_default_sample(descriptor, member)))
    return samples


def contract_test_samples():
    """The samples of round_trip_samples() for the test contracts' messages."""
    samples = []
    for descriptor in contract_test_messages():
        for variant in range(variant_count(descriptor)):
            samples.append(Sample(f"{descriptor.full_name}#{variant}", descriptor, full_sample(descriptor, variant)))
        samples.append(Sample(f"{descriptor.full_name}#empty", descriptor, message_class(descriptor)()))
    return samples


ALT_JSON_OPTIONS = dict(preserving_proto_field_name=True, use_integers_for_enums=True,
                        ensure_ascii=False, unquote_int64_if_possible=True, indent=None)


def alt_json_samples():
    """The full sample as JSON in the other forms a proto3 JSON parser must accept: proto
    field names, enums as numbers, raw UTF-8, int64 as numbers where exact."""
    return [Sample(f"{d.full_name}#alt-json", d, full_sample(d), binary=False) for d in swift_messages()]


def nul_string_cases():
    """(message, field): Python writes a string with U+0000 in that field (the other fields as in #0)."""
    return [(d, f) for d in swift_messages() for f in string_fields(d)]


def bad_utf8_cases():
    return [(d, f) for d in swift_messages() for f in string_fields(d)]


def unknown_json_cases():
    """(message, nested field or None): JSON with an unknown member at the top level, or in a sub-message."""
    cases = []
    for d in swift_messages():
        cases.append((d, None))
        for f in d.fields:
            if f.message_type is not None and not f.is_repeated and not is_special_json(f.message_type):
                cases.append((d, f))
                break
    return cases


def case_id(case):
    descriptor, field = case
    return f"{descriptor.full_name}.{field.name}" if field is not None else descriptor.full_name


ROUND_TRIP = round_trip_samples()
ALT_JSON = alt_json_samples()
NUL_CASES = nul_string_cases()
BAD_UTF8_CASES = bad_utf8_cases()
UNKNOWN_JSON_CASES = unknown_json_cases()
TEST_CONTRACT_SAMPLES = contract_test_samples()


# --- Running Swift ---------------------------------------------------------------------


def swift_executable():
    swift = shutil.which("swift")
    if swift is None and os.access("/opt/swift/usr/bin/swift", os.X_OK):
        swift = "/opt/swift/usr/bin/swift"
    if swift is None:
        pytest.fail("swift is not on the PATH (nor at /opt/swift/usr/bin/swift)")
    return swift


@functools.cache
def swift_tool():
    command = [swift_executable(), "build", "--product", TOOL]
    if os.environ.get("SOUK_SWIFT_SCRATCH"):
        command += ["--scratch-path", os.environ["SOUK_SWIFT_SCRATCH"]]
    shown = subprocess.run(command + ["--show-bin-path"], cwd=ROOT, capture_output=True, text=True)
    if shown.returncode != 0:
        pytest.fail(f"{' '.join(command)} --show-bin-path failed:\n{shown.stdout}{shown.stderr}")
    tool = Path(shown.stdout.strip().splitlines()[-1]) / TOOL
    if not tool.exists():
        built = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if built.returncode != 0 or not tool.exists():
            pytest.fail(f"{' '.join(command)} failed:\n{built.stdout}{built.stderr}")
    return tool


def write_sample(folder, sample, json_text=None):
    if sample.binary:
        (folder / f"{sample.name}.bin").write_bytes(sample.message.SerializeToString())
    if sample.json:
        if json_text is None:
            json_text = json_format.MessageToJson(sample.message)
        (folder / f"{sample.name}.json").write_text(json_text, encoding="utf-8")


@pytest.fixture(scope="module")
def swift_output(tmp_path_factory):
    """Writes every sample, runs the Swift tool over them once, returns the folder."""
    folder = tmp_path_factory.mktemp("contract-roundtrip")
    for sample in ROUND_TRIP:
        write_sample(folder, sample)
    for sample in ALT_JSON:
        write_sample(folder, sample, json_format.MessageToJson(sample.message, **ALT_JSON_OPTIONS))
    for descriptor, field in NUL_CASES:
        message = nul_message(descriptor, field)
        write_sample(folder, Sample(f"{descriptor.full_name}#nul-{field.name}", descriptor, message))
    for descriptor, field in BAD_UTF8_CASES:
        (folder / f"{descriptor.full_name}#bad-utf8-{field.name}.bin").write_bytes(bad_utf8_bytes(field))
    for case in UNKNOWN_JSON_CASES:
        (folder / f"{unknown_json_name(case)}.json").write_text(unknown_json_text(case), encoding="utf-8")
    for sample in TEST_CONTRACT_SAMPLES:
        write_sample(folder, sample)
    result = subprocess.run([str(swift_tool()), str(folder)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{TOOL} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
    return folder


# --- Checks ----------------------------------------------------------------------------


def field_diff(expected, got, path=""):
    """The fields that differ, one line each, from ListFields() (unknown fields: unknown_field_lines)."""
    lines = []
    want = {f.name: (f, v) for f, v in expected.ListFields()}
    have = {f.name: (f, v) for f, v in got.ListFields()}
    for name in sorted(set(want) | set(have)):
        where = f"{path}.{name}" if path else name
        if name not in have:
            lines.append(f"{where}: expected {want[name][1]!r}, got the default")
            continue
        if name not in want:
            lines.append(f"{where}: expected the default, got {have[name][1]!r}")
            continue
        field, a = want[name]
        b = have[name][1]
        if a == b:
            continue
        if field.message_type is not None and not field.is_repeated:
            lines += field_diff(a, b, where)
        elif field.message_type is not None and not is_map(field):
            if len(a) != len(b):
                lines.append(f"{where}: expected {len(a)} elements, got {len(b)}")
            for index, (x, y) in enumerate(zip(a, b)):
                lines += field_diff(x, y, f"{where}[{index}]")
        else:
            lines.append(f"{where}: expected {a!r}, got {b!r}")
    return lines


def unknown_field_lines(message, path=""):
    lines = []
    unknown = UnknownFieldSet(message)
    if len(unknown):
        lines.append(f"{path or '<root>'}: unknown fields {[(f.field_number, f.data) for f in unknown]!r}")
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        where = f"{path}.{field.name}" if path else field.name
        if is_map(field):
            if field.message_type.fields_by_name["value"].message_type is not None:
                for key, child in value.items():
                    lines += unknown_field_lines(child, f"{where}[{key!r}]")
        elif field.is_repeated:
            for index, child in enumerate(value):
                lines += unknown_field_lines(child, f"{where}[{index}]")
        else:
            lines += unknown_field_lines(value, where)
    return lines


def assert_same_message(expected, got, what):
    lines = field_diff(expected, got) + unknown_field_lines(got)
    assert not lines and got == expected, f"{what} differs from what Python wrote:\n  " + "\n  ".join(lines or ["(== is False)"])


def normalised(value):
    """JSON numbers as floats (1e300 and 1e+300, 1 and 1.0 are one number), containers recursively."""
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def read_output(folder, name, suffix):
    """An output file of the tool; fails with the error file when Swift reported one."""
    error = folder / f"{name}.error.txt"
    if error.exists():
        pytest.fail(f"Swift refused {name}:\n{error.read_text(encoding='utf-8')}")
    path = folder / f"{name}{suffix}"
    assert path.exists(), f"Swift wrote no {path.name} (and no error file)"
    return path.read_bytes()


def check_json(folder, sample, suffix):
    text = read_output(folder, sample.name, suffix).decode("utf-8")
    cls = message_class(sample.descriptor)
    try:
        parsed = json_format.Parse(text, cls())
    except json_format.ParseError as error:
        pytest.fail(f"Python cannot read Swift's {sample.name}{suffix}: {error}\n{text}")
    assert_same_message(sample.message, parsed, f"Swift's JSON {sample.name}{suffix}")
    assert normalised(json.loads(text)) == normalised(json.loads(json_format.MessageToJson(sample.message)))


@pytest.mark.parametrize("sample", ROUND_TRIP, ids=lambda s: s.name)
def test_binary_round_trip(swift_output, sample):
    """Python binary -> Swift -> binary: the same message."""
    data = read_output(swift_output, sample.name, ".swift.bin")
    got = message_class(sample.descriptor)()
    got.ParseFromString(data)
    assert_same_message(sample.message, got, f"Swift's binary {sample.name}.swift.bin")


@pytest.mark.parametrize("sample", ROUND_TRIP, ids=lambda s: s.name)
def test_binary_to_json(swift_output, sample):
    """Python binary -> Swift -> JSON: what Python writes as JSON, up to number formatting."""
    check_json(swift_output, sample, ".swift.json")


def with_absent_messages_as_null(message, document):
    """Python's JSON with every field (`always_print_fields_with_no_presence`) as Go's protojson
    EmitUnpopulated writes it, which Swift's `emitUnpopulated` follows: a singular message field
    that is not set (a oneof member aside) is written as `null`, which Python leaves out."""
    for field in message.DESCRIPTOR.fields:
        if field.message_type is None or field.containing_oneof is not None:
            continue
        value = getattr(message, field.name)
        if is_map(field):
            if field.message_type.fields_by_name["value"].message_type is not None:
                for key, child in value.items():
                    if not is_special_json(child.DESCRIPTOR):
                        with_absent_messages_as_null(child, document[field.json_name][json_map_key(key)])
        elif field.is_repeated:
            if not is_special_json(field.message_type):
                for child, child_document in zip(value, document[field.json_name]):
                    with_absent_messages_as_null(child, child_document)
        elif not message.HasField(field.name):
            document[field.json_name] = None
        elif not is_special_json(field.message_type):
            with_absent_messages_as_null(value, document[field.json_name])
    return document


def json_map_key(key):
    return ("true" if key else "false") if isinstance(key, bool) else str(key)


def full_json(message):
    """What Swift's `JSONEncodingOptions(emitUnpopulated: true)` must write for `message`."""
    text = json_format.MessageToJson(message, always_print_fields_with_no_presence=True)
    return with_absent_messages_as_null(message, json.loads(text))


def check_full_json(folder, sample):
    """Swift's JSON with every field: Python's, plus `null` for absent messages; and Python reads it back."""
    text = read_output(folder, sample.name, ".swift.full.json").decode("utf-8")
    assert normalised(json.loads(text)) == normalised(full_json(sample.message)), text
    parsed = json_format.Parse(text, message_class(sample.descriptor)())
    assert_same_message(sample.message, parsed, f"Swift's JSON {sample.name}.swift.full.json")


@pytest.mark.parametrize("sample", ROUND_TRIP, ids=lambda s: s.name)
def test_binary_to_json_with_every_field(swift_output, sample):
    """Python binary -> Swift -> JSON with every field (emitUnpopulated): what Python writes with
    `always_print_fields_with_no_presence`, with null for absent messages; and proto field names."""
    check_full_json(swift_output, sample)
    names = read_output(swift_output, sample.name, ".swift.names.json").decode("utf-8")
    expected = json_format.MessageToJson(sample.message, preserving_proto_field_name=True)
    assert normalised(json.loads(names)) == normalised(json.loads(expected)), names


@pytest.mark.parametrize("sample", ROUND_TRIP + ALT_JSON, ids=lambda s: s.name)
def test_json_decode(swift_output, sample):
    """Python JSON -> Swift -> binary and JSON: the same message."""
    data = read_output(swift_output, sample.name, ".fromjson.bin")
    got = message_class(sample.descriptor)()
    got.ParseFromString(data)
    assert_same_message(sample.message, got, f"Swift's binary {sample.name}.fromjson.bin")
    check_json(swift_output, sample, ".fromjson.json")


def nul_message(descriptor, field):
    message = full_sample(descriptor)
    if field.is_repeated:
        getattr(message, field.name)[1] = "before\x00after"
    else:
        setattr(message, field.name, "before\x00after")  # for a oneof member, selects it
    return message


@pytest.mark.parametrize("sample", ROUND_TRIP + ALT_JSON + TEST_CONTRACT_SAMPLES, ids=lambda s: s.name)
def test_descriptor_driven_codec_agrees_byte_for_byte(swift_output, sample):
    """The codec `souk call` runs on the descriptors reflection serves writes exactly what the
    generated types write: binary (fields by number, packed, maps by key) and every JSON form."""
    pairs = []
    if sample.binary:
        pairs += [(".swift.bin", ".dynamic.bin"), (".swift.json", ".dynamic.json"),
                  (".swift.full.json", ".dynamic.full.json"), (".swift.names.json", ".dynamic.names.json")]
    if sample.json:
        pairs.append((".fromjson.bin", ".dynamic.fromjson.bin"))
    for generated, dynamic in pairs:
        expected = read_output(swift_output, sample.name, generated)
        got = read_output(swift_output, sample.name, dynamic)
        assert got == expected, f"{sample.name}{dynamic} differs from {generated}:\n{got!r}\n{expected!r}"


@pytest.mark.parametrize("case", NUL_CASES, ids=case_id)
def test_nul_in_string_is_refused(swift_output, case):
    """protobuf-c's strings end at U+0000: Swift must refuse the message, not truncate the string."""
    descriptor, field = case
    name = f"{descriptor.full_name}#nul-{field.name}"
    error = swift_output / f"{name}.error.txt"
    assert error.exists(), (f"Swift accepted a U+0000 in {field.full_name}; it wrote "
                            f"{(swift_output / f'{name}.swift.json').read_text(encoding='utf-8')!r}")
    text = error.read_text(encoding="utf-8")
    assert "binary decode" in text and "U+0000" in text and field.full_name in text, text
    assert not (swift_output / f"{name}.swift.bin").exists()
    assert "dynamic binary" in text and not (swift_output / f"{name}.dynamic.bin").exists(), text
    # The JSON form ("\u0000") must fail too, when decoding or at the latest when encoding to binary.
    assert any(line.startswith("json") for line in text.splitlines()), text
    assert not (swift_output / f"{name}.fromjson.bin").exists()


def bad_utf8_bytes(field):
    # The field alone, holding "\xc3(": a lead byte followed by a non-continuation byte.
    return varint(field.number << 3 | 2) + varint(2) + b"\xc3\x28"


@pytest.mark.parametrize("case", BAD_UTF8_CASES, ids=case_id)
def test_invalid_utf8_in_string_is_refused(swift_output, case):
    descriptor, field = case
    name = f"{descriptor.full_name}#bad-utf8-{field.name}"
    with pytest.raises(Exception):  # Python refuses it too, so both runtimes agree
        message_class(descriptor)().ParseFromString(bad_utf8_bytes(field))
    error = swift_output / f"{name}.error.txt"
    assert error.exists(), f"Swift accepted invalid UTF-8 in {field.full_name}"
    text = error.read_text(encoding="utf-8")
    assert "binary decode" in text and "UTF-8" in text and field.full_name in text, text
    assert "dynamic binary" in text and "UTF-8" in text, text


def unknown_json_name(case):
    descriptor, field = case
    return f"{descriptor.full_name}#unknown-json" + (f"-{field.name}" if field is not None else "")


def unknown_json_text(case):
    descriptor, field = case
    document = json.loads(json_format.MessageToJson(full_sample(descriptor)))
    if field is None:
        document["noSuchField"] = 1
    else:
        document.setdefault(field.json_name, {})["noSuchField"] = 1
    return json.dumps(document)


@pytest.mark.parametrize("case", UNKNOWN_JSON_CASES, ids=case_id)
def test_unknown_json_field_is_refused(swift_output, case):
    descriptor, field = case
    name = unknown_json_name(case)
    text = unknown_json_text(case)
    with pytest.raises(json_format.ParseError):  # Python refuses it too
        json_format.Parse(text, message_class(descriptor)())
    error = swift_output / f"{name}.error.txt"
    assert error.exists(), f"Swift accepted an unknown JSON field in {descriptor.full_name}"
    message = error.read_text(encoding="utf-8")
    assert "json decode" in message and '"noSuchField"' in message, message
    assert "dynamic json" in message and not (swift_output / f"{name}.dynamic.fromjson.bin").exists(), message
    if field is not None:
        assert field.json_name in message and field.message_type.full_name in message, message
    else:
        assert descriptor.full_name in message, message
    assert not (swift_output / f"{name}.fromjson.bin").exists()


def test_swift_knows_every_message():
    """The Swift registries hold exactly the messages of Protos/ (but souk.api.v1)."""
    result = subprocess.run([str(swift_tool()), "--list"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    listed = result.stdout.splitlines()
    assert listed == sorted(listed), "--list is not sorted"
    swift = set(listed)
    protos = {d.full_name for d in swift_messages()}
    assert not protos - swift, f"in Protos/ but unknown to Swift: {sorted(protos - swift)}"
    assert not swift - protos, f"known to Swift but not in Protos/: {sorted(swift - protos)}"
    assert len(listed) == len(swift), "--list has duplicates"


def test_every_field_is_covered():
    """Guards the sample generator: every field of every message is set in some sample."""
    unset = []
    for descriptor in swift_messages():
        seen = set()
        for variant in range(variant_count(descriptor)):
            seen |= {f.name for f, _ in full_sample(descriptor, variant).ListFields()}
        unset += [f.full_name for f in descriptor.fields if f.name not in seen]
    assert not unset, f"never set by any sample: {unset}"
