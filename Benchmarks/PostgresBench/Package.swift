// swift-tools-version:6.0
// The SoukPostgres benchmark, a package of its own so that the main build never compiles it.
// Primary-key SELECTs through the pool next to pgbench -S against the same server:
//
//     Tools/dev-db start
//     cd Benchmarks/PostgresBench && swift run -c release postgres-bench
import PackageDescription

// The Souk checkout to measure: this repository by default; SOUK_PACKAGE_PATH picks another.
let soukPath = Context.environment["SOUK_PACKAGE_PATH"] ?? "../.."

let package = Package(
    name: "PostgresBench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Souk", path: soukPath),
    ],
    targets: [
        .executableTarget(name: "postgres-bench", dependencies: [
            .product(name: "SoukPostgres", package: "Souk"),
        ]),
    ]
)
