// swift-tools-version:6.0
// Benchmarks of Souk, in a package of their own so that the main build and CI
// never compile them (or swift-protobuf). Run from this folder:
//
//     swift run -c release codec-bench
import PackageDescription

// The Souk checkout to measure: this repository by default; set
// SOUK_PACKAGE_PATH to measure another one (a branch, a prototype) with the
// same benchmark.
let soukPath = Context.environment["SOUK_PACKAGE_PATH"] ?? ".."

let package = Package(
    name: "SoukBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Souk", path: soukPath),
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
    ],
    targets: [
        // swift-protobuf's generated code for the same contracts; see generate-swift-protobuf.sh.
        .target(name: "SwiftProtobufOrder",
                dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // Counts heap allocations by defining malloc in the executable (glibc).
        .target(name: "MallocCounter"),
        // Times binary encode and decode of an order with Souk's and swift-protobuf's types.
        .executableTarget(name: "codec-bench", dependencies: [
            .product(name: "SoukContracts", package: "Souk"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            "SwiftProtobufOrder",
            "MallocCounter",
        ]),
    ]
)
