#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MallocCounter

/// One measured operation.
struct Benchmark {
    let name: String
    /// The size of the encoding it writes or reads.
    let encodedSize: Int
    /// Runs the operation `iterations` times and returns a number derived from
    /// every result, so the optimiser cannot drop any of them.
    let body: (_ iterations: Int) throws -> Int
}

struct Measurement {
    let benchmark: Benchmark
    /// Nanoseconds per operation, one entry per timed round.
    var samples: [Double] = []
    var allocationsPerOp = 0.0
    var allocatedBytesPerOp = 0.0

    var median: Double {
        let sorted = samples.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

/// The sum of every checksum, printed at the end.
nonisolated(unsafe) var sink = 0

/// Whether the malloc counter sees allocations made by the Swift runtime: a
/// fresh array must count at least one.
func mallocCounterWorks() -> Bool {
    malloc_counter_start()
    let array = [Int](repeating: 7, count: 64 + sink % 3)
    sink &+= array.count
    return malloc_counter_stop().allocations > 0
}

/// The CPU time this thread has used. Unlike wall-clock time it does not count
/// the time other processes hold the core, which on a shared 2-core machine
/// would otherwise dominate the spread.
func threadCPUNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// Times every benchmark in `rounds` rounds of `iterations` operations,
/// interleaving them round by round so that a noisy neighbour on the machine
/// hits all of them alike; counts allocations in a separate, untimed pass.
func measure(_ benchmarks: [Benchmark], iterations: Int, rounds: Int, countingAllocations: Bool) throws -> [Measurement] {
    var measurements = benchmarks.map { Measurement(benchmark: $0) }
    let countedIterations = 1_000
    for index in measurements.indices {
        let benchmark = measurements[index].benchmark
        // Warm-up: lazy globals, caches, the allocator's free lists.
        sink &+= try benchmark.body(max(iterations / 10, 1))
        if countingAllocations {
            malloc_counter_start()
            sink &+= try benchmark.body(countedIterations)
            let stats = malloc_counter_stop()
            measurements[index].allocationsPerOp = Double(stats.allocations) / Double(countedIterations)
            measurements[index].allocatedBytesPerOp = Double(stats.bytes) / Double(countedIterations)
        }
    }
    for _ in 0..<rounds {
        for index in measurements.indices {
            let body = measurements[index].benchmark.body
            let start = threadCPUNanoseconds()
            sink &+= try body(iterations)
            let elapsed = threadCPUNanoseconds() - start
            measurements[index].samples.append(Double(elapsed) / Double(iterations))
        }
    }
    return measurements
}
