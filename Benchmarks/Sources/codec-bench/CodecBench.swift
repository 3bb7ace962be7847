// codec-bench: binary encode and decode of one realistic order with Souk's
// generated types (over protobuf-c) and with swift-protobuf's, in one run.
//
//     swift run -c release codec-bench [--iterations N] [--rounds R] [--filter TEXT]
//
// --filter runs only the benchmarks whose name contains TEXT (the checks always
// run), which keeps a profiler's run short (README.md, Profiling).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SoukContracts
import SwiftProtobufOrder

@main
enum CodecBench {
    static func main() throws {
        // MARK: Options

        var iterations = 200_000
        var rounds = 7
        var filter: String?
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let argument = arguments.next() {
            switch argument {
            case "--iterations": iterations = max(1, Int(arguments.next() ?? "") ?? iterations)
            case "--rounds": rounds = max(1, Int(arguments.next() ?? "") ?? rounds)
            case "--filter": filter = arguments.next()
            default:
                print("usage: codec-bench [--iterations N] [--rounds R] [--filter TEXT]")
                exit(2)
            }
        }

        #if DEBUG
        print("warning: a debug build; timings mean something only with swift run -c release codec-bench")
        #endif

        // MARK: The order, and checks that both codecs agree on it

        let soukOrder = SoukCodec.makeOrder()
        let swiftProtobufOrder = SwiftProtobufCodec.makeOrder()

        let soukBytes = try SoukCodec.encode(soukOrder)
        let swiftProtobufBytes = try SwiftProtobufCodec.encode(swiftProtobufOrder)
        let packBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        let packedCount = try SoukCodec.encode(soukOrder, into: packBuffer)

        var checksFailed = false
        func check(_ what: String, _ passed: Bool) {
            print("  [\(passed ? "ok" : "FAILED")] \(what)")
            if !passed { checksFailed = true }
        }
        print("Order: \(Fixture.items.count) items, two Timestamps, every field set")
        print("Checks:")
        check("both encoders write \(soukBytes.count) bytes (souk \(soukBytes.count), swift-protobuf \(swiftProtobufBytes.count))",
              soukBytes.count == swiftProtobufBytes.count)
        check("the encodings are byte for byte identical", soukBytes == swiftProtobufBytes)
        check("souk withPacker writes the same bytes as serializedBytes()",
              Array(packBuffer.prefix(packedCount)) == soukBytes)
        check("souk decodes swift-protobuf's bytes to the original order",
              (try? SoukCodec.decode(swiftProtobufBytes)) == soukOrder)
        check("swift-protobuf decodes souk's bytes to the original order",
              (try? SwiftProtobufCodec.decode(soukBytes)) == swiftProtobufOrder)
        check("each decodes its own bytes to the original order",
              (try? SoukCodec.decode(soukBytes)) == soukOrder
                  && (try? SwiftProtobufCodec.decode(swiftProtobufBytes)) == swiftProtobufOrder)
        // Both validate strings, so neither is timed skipping work the other does.
        let invalidUTF8: [UInt8] = [0x0a, 2, 0xC3, 0x28]  // id = C3 28
        let holdingNUL: [UInt8] = [0x0a, 3, 0x61, 0x00, 0x62]  // id = "a\0b"
        check("both refuse an id that is not UTF-8",
              SoukCodec.decodingError(invalidUTF8) == .invalidUTF8 && SwiftProtobufCodec.rejects(invalidUTF8))
        check("souk refuses an id holding U+0000", SoukCodec.decodingError(holdingNUL) == .stringContainsNUL)
        let countingAllocations = mallocCounterWorks()
        print(countingAllocations
            ? "  [ok] the malloc counter sees the Swift runtime's allocations"
            : "  [--] the malloc counter sees no allocation (not glibc, or an allocator such as valgrind's replaced it): allocations not counted")
        if checksFailed {
            print("A check failed: the timings would compare different work, so none are taken.")
            exit(1)
        }

        // MARK: Benchmarks

        let benchmarks = [
            Benchmark(name: "souk encode (serializedBytes)", encodedSize: soukBytes.count) { n in
                var sum = 0
                for _ in 0..<n { sum &+= try SoukCodec.encode(soukOrder).count }
                return sum
            },
            Benchmark(name: "souk encode (withPacker, reused buffer)", encodedSize: packedCount) { n in
                var sum = 0
                for _ in 0..<n { sum &+= try SoukCodec.encode(soukOrder, into: packBuffer) }
                return sum &+ Int(packBuffer[Int(sum) % packedCount])
            },
            Benchmark(name: "souk decode", encodedSize: soukBytes.count) { n in
                var sum = 0
                for _ in 0..<n { sum &+= SoukCodec.checksum(try SoukCodec.decode(soukBytes)) }
                return sum
            },
            Benchmark(name: "swift-protobuf encode", encodedSize: swiftProtobufBytes.count) { n in
                var sum = 0
                for _ in 0..<n { sum &+= try SwiftProtobufCodec.encode(swiftProtobufOrder).count }
                return sum
            },
            Benchmark(name: "swift-protobuf decode", encodedSize: swiftProtobufBytes.count) { n in
                var sum = 0
                for _ in 0..<n { sum &+= SwiftProtobufCodec.checksum(try SwiftProtobufCodec.decode(swiftProtobufBytes)) }
                return sum
            },
        ].filter { filter == nil || $0.name.contains(filter!) }

        print("Timing \(benchmarks.count) benchmarks: \(rounds) rounds of \(iterations) operations each, interleaved; allocations counted over 1000 more.")
        let measurements = try measure(benchmarks, iterations: iterations, rounds: rounds, countingAllocations: countingAllocations)

        // MARK: Table

        func format(_ value: Double, decimals: Int) -> String {
            var scaled = value
            for _ in 0..<decimals { scaled *= 10 }
            let rounded = Int(scaled.rounded())
            if decimals == 0 { return String(rounded) }
            var divisor = 1
            for _ in 0..<decimals { divisor *= 10 }
            let fraction = String(abs(rounded) % divisor)
            return "\(rounded / divisor).\(String(repeating: "0", count: decimals - fraction.count))\(fraction)"
        }

        /// The swift-protobuf measurement a Souk row is compared with.
        func baseline(for name: String) -> Measurement? {
            let counterpart = name.contains("encode") ? "swift-protobuf encode" : "swift-protobuf decode"
            guard !name.hasPrefix("swift-protobuf") else { return nil }
            return measurements.first { $0.benchmark.name == counterpart }
        }

        let header = ["benchmark", "ns/op (median)", "min … max ns/op", "allocs/op", "bytes allocated/op", "encoded bytes", "time vs swift-protobuf"]
        var rows: [[String]] = []
        for measurement in measurements {
            let ratio = baseline(for: measurement.benchmark.name).map { format(measurement.median / $0.median, decimals: 2) + "×" } ?? "—"
            rows.append([
                measurement.benchmark.name,
                format(measurement.median, decimals: 0),
                "\(format(measurement.samples.min()!, decimals: 0)) … \(format(measurement.samples.max()!, decimals: 0))",
                countingAllocations ? format(measurement.allocationsPerOp, decimals: 1) : "n/a",
                countingAllocations ? format(measurement.allocatedBytesPerOp, decimals: 0) : "n/a",
                String(measurement.benchmark.encodedSize),
                ratio,
            ])
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max()! }
        func line(_ cells: [String]) -> String {
            "| " + cells.enumerated().map { column, cell in
                column == 0 ? cell.padding(to: widths[column]) : cell.padded(left: widths[column])
            }.joined(separator: " | ") + " |"
        }
        print("")
        print(line(header))
        print("|" + widths.enumerated().map { column, width in
            column == 0 ? String(repeating: "-", count: width + 2) : String(repeating: "-", count: width + 1) + ":"
        }.joined(separator: "|") + "|")
        for row in rows { print(line(row)) }
        print("")
        print("ns/op: this thread's CPU time (CLOCK_THREAD_CPUTIME_ID) per operation; median and range over the rounds.")
        print("allocs/op: malloc, calloc, realloc and aligned allocations per operation, counted by the executable's own malloc (Sources/MallocCounter).")
        print("(checksum \(sink))")
    }
}

extension String {
    func padding(to width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
    func padded(left width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
