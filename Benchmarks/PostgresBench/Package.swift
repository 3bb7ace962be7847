// swift-tools-version:6.0
// Benchmarks that need PostgreSQL, a package of its own so that the main build never compiles them:
//
//     Tools/dev-db start
//     cd Benchmarks/PostgresBench
//     swift run -c release postgres-bench   # SoukPostgres's primary-key SELECTs next to pgbench -S
//     swift run -c release users-bench      # GetCurrentUser over RPC next to pgbench -S; Authenticate's cost
//     swift run -c release orders-bench     # CreateOrder and GetOrder over RPC next to pgbench -N and -S
//     swift run -c release payments-bench   # CreateOrder + CreatePayment flows over RPC next to pgbench -N
import PackageDescription

// The Souk checkout to measure: this repository by default; SOUK_PACKAGE_PATH picks another.
let soukPath = Context.environment["SOUK_PACKAGE_PATH"] ?? "../.."

let package = Package(
    name: "PostgresBench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Souk", path: soukPath),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        .target(name: "BenchSupport"),
        .target(name: "ServiceBench", dependencies: [
            "BenchSupport",
            .product(name: "SoukContracts", package: "Souk"),
            .product(name: "SoukPostgres", package: "Souk"),
            .product(name: "SoukRPC", package: "Souk"),
        ]),
        .executableTarget(name: "postgres-bench", dependencies: [
            "BenchSupport",
            .product(name: "SoukPostgres", package: "Souk"),
        ]),
        .executableTarget(name: "users-bench", dependencies: [
            "BenchSupport",
            .product(name: "SoukCLI", package: "Souk"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "SoukContracts", package: "Souk"),
            .product(name: "SoukPostgres", package: "Souk"),
            .product(name: "SoukRPC", package: "Souk"),
        ]),
        .executableTarget(name: "orders-bench", dependencies: [
            "BenchSupport", "ServiceBench",
            .product(name: "SoukCLI", package: "Souk"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "SoukContracts", package: "Souk"),
            .product(name: "SoukPostgres", package: "Souk"),
            .product(name: "SoukRPC", package: "Souk"),
        ]),
        .executableTarget(name: "payments-bench", dependencies: [
            "BenchSupport", "ServiceBench",
            .product(name: "SoukCLI", package: "Souk"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "SoukContracts", package: "Souk"),
            .product(name: "SoukPostgres", package: "Souk"),
            .product(name: "SoukRPC", package: "Souk"),
        ]),
    ]
)
