// souk-contract-roundtrip: the Swift half of the cross-language contract test
// (Tests/contract/test_contract_roundtrip.py).
//
//   souk-contract-roundtrip DIR
//     For each DIR/<name>.bin, where <name> is a full message name optionally
//     followed by `#<sample>` (e.g. `souk.users.v1.User#0`): decodes it with the
//     Swift type and writes DIR/<name>.swift.bin (binary again) and
//     DIR/<name>.swift.json (our JSON), DIR/<name>.swift.full.json (every field
//     written: emitUnpopulated) and DIR/<name>.swift.names.json (proto field
//     names). For each DIR/<name>.json (written by
//     another runtime): decodes it with our JSON decoder and writes
//     DIR/<name>.fromjson.bin and DIR/<name>.fromjson.json. Any error is written
//     to DIR/<name>.error.txt, one line per failed step, and the next file is
//     processed. Prints one line per sample. Exits 0 unless DIR cannot be read.
//
//   Besides the contracts of Protos/, it knows the well-known types and the test
//   contracts of Tests/Protos (for Tests/contract/test_well_known_json.py).
//
//   Each sample also goes through the descriptor-driven codec of SoukReflection (what
//   `souk call` uses), which writes DIR/<name>.dynamic.bin, .dynamic.json,
//   .dynamic.full.json, .dynamic.names.json (from the binary) and .dynamic.fromjson.bin
//   (from the JSON): the test holds them byte for byte to the generated codec's files.
//
//   souk-contract-roundtrip --list
//     Prints the full name of every message type of Protos/, sorted.

import Foundation
import SoukContracts
import SoukProtobuf
import SoukReflection
import SoukWire
import TestContracts

/// The messages of Protos/.
let contracts: [String: any ProtoMessage.Type] =
    SoukWireMessages.byName.merging(SoukContractMessages.byName) { first, _ in first }
let registry = contracts
    .merging(WellKnownMessages.byName) { first, _ in first }
    .merging(TestContractMessages.byName) { first, _ in first }

/// The outputs this tool writes, which are not inputs.
let outputSuffixes = [".swift.bin", ".swift.json", ".swift.full.json", ".swift.names.json", ".fromjson.bin",
                      ".fromjson.json", ".error.txt", ".dynamic.bin", ".dynamic.json", ".dynamic.full.json",
                      ".dynamic.names.json", ".dynamic.fromjson.bin"]

/// The codec driven by the contracts' descriptors, for the same samples.
let dynamicCodec = DynamicCodec(pool: try! DescriptorPool(fileDescriptorSets: [
    SoukWireDescriptors.fileDescriptorSet, SoukContractDescriptors.fileDescriptorSet, TestContractDescriptors.fileDescriptorSet,
]))

/// The sample through the descriptor-driven codec: binary in, binary and JSON out; JSON in, binary out.
func roundTripDynamic(_ messageName: String, _ sample: inout Sample, in dir: String) {
    let base = "\(dir)/\(sample.name)"
    if sample.hasBinary {
        do {
            let message = try dynamicCodec.decode(try read(base + ".bin"), as: messageName)
            try write(try dynamicCodec.encode(message), to: base + ".dynamic.bin")
            try write(Array(try dynamicCodec.encodeJSON(message).utf8), to: base + ".dynamic.json")
            try write(Array(try dynamicCodec.encodeJSON(message, options: JSONEncodingOptions(emitUnpopulated: true)).utf8),
                      to: base + ".dynamic.full.json")
            try write(Array(try dynamicCodec.encodeJSON(message, options: JSONEncodingOptions(useProtoFieldNames: true)).utf8),
                      to: base + ".dynamic.names.json")
        } catch {
            sample.errors.append("dynamic binary: \(describe(error))")
        }
    }
    if sample.hasJSON {
        do {
            let json = try JSONParser.parse(try read(base + ".json"))
            try write(try dynamicCodec.encode(try dynamicCodec.decode(json: json, as: messageName)), to: base + ".dynamic.fromjson.bin")
        } catch {
            sample.errors.append("dynamic json: \(describe(error))")
        }
    }
}

func describe(_ error: any Error) -> String {
    "\(error)".replacingOccurrences(of: "\n", with: " ")
}

func write(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func read(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// One sample: its inputs, and what became of them.
struct Sample {
    var name: String
    var hasBinary = false
    var hasJSON = false
    var errors: [String] = []
    var done: [String] = []
}

/// The binary input decoded and encoded again in both forms.
func roundTripBinary<M: ProtoMessage>(_: M.Type, _ sample: inout Sample, in dir: String) {
    let base = "\(dir)/\(sample.name)"
    let message: M
    do {
        message = try M(serializedBytes: read(base + ".bin"))
    } catch {
        sample.errors.append("binary decode: \(describe(error))")
        return
    }
    do {
        try write(message.serializedBytes(), to: base + ".swift.bin")
        try write(message.jsonBytes(), to: base + ".swift.json")
        try write(message.jsonBytes(options: JSONEncodingOptions(emitUnpopulated: true)), to: base + ".swift.full.json")
        try write(message.jsonBytes(options: JSONEncodingOptions(useProtoFieldNames: true)), to: base + ".swift.names.json")
        sample.done.append("binary")
    } catch {
        sample.errors.append("binary re-encode: \(describe(error))")
    }
}

/// The JSON input decoded and encoded in both forms.
func roundTripJSON<M: ProtoMessage>(_: M.Type, _ sample: inout Sample, in dir: String) {
    let base = "\(dir)/\(sample.name)"
    let message: M
    do {
        message = try M(jsonBytes: read(base + ".json"))
    } catch {
        sample.errors.append("json decode: \(describe(error))")
        return
    }
    do {
        try write(message.serializedBytes(), to: base + ".fromjson.bin")
        try write(message.jsonBytes(), to: base + ".fromjson.json")
        sample.done.append("json")
    } catch {
        sample.errors.append("json re-encode: \(describe(error))")
    }
}

func run(dir: String) -> Int32 {
    let entries: [String]
    do {
        entries = try FileManager.default.contentsOfDirectory(atPath: dir)
    } catch {
        FileHandle.standardError.write(Data("souk-contract-roundtrip: cannot read \(dir): \(describe(error))\n".utf8))
        return 1
    }
    var samples: [String: Sample] = [:]
    for entry in entries where !outputSuffixes.contains(where: { entry.hasSuffix($0) }) {
        if entry.hasSuffix(".bin") {
            let name = String(entry.dropLast(4))
            samples[name, default: Sample(name: name)].hasBinary = true
        } else if entry.hasSuffix(".json") {
            let name = String(entry.dropLast(5))
            samples[name, default: Sample(name: name)].hasJSON = true
        }
    }
    for name in samples.keys.sorted() {
        var sample = samples[name]!
        let errorPath = "\(dir)/\(name).error.txt"
        try? FileManager.default.removeItem(atPath: errorPath)
        let messageName = String(name.prefix { $0 != "#" })
        if let type = registry[messageName] {
            if sample.hasBinary { roundTripBinary(type, &sample, in: dir) }
            if sample.hasJSON { roundTripJSON(type, &sample, in: dir) }
            roundTripDynamic(messageName, &sample, in: dir)
        } else {
            sample.errors.append("unknown message type \(messageName)")
        }
        if sample.errors.isEmpty {
            print("ok     \(name) (\(sample.done.joined(separator: ", ")))")
        } else {
            do {
                try write(Array(sample.errors.map { $0 + "\n" }.joined().utf8), to: errorPath)
            } catch {
                FileHandle.standardError.write(Data("souk-contract-roundtrip: cannot write \(errorPath): \(describe(error))\n".utf8))
            }
            print("error  \(name): \(sample.errors.joined(separator: "; "))")
        }
    }
    return 0
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments == ["--list"] {
    for name in contracts.keys.sorted() { print(name) }
} else if arguments.count == 1, !arguments[0].hasPrefix("-") {
    exit(run(dir: arguments[0]))
} else {
    FileHandle.standardError.write(Data("usage: souk-contract-roundtrip DIR | --list\n".utf8))
    exit(2)
}
