// swift-tools-version:6.1
// The RPC benchmark: Souk RPC against grpc-swift-2, a bare SwiftNIO length-prefixed
// echo and a C epoll echo, server and client in separate processes. Run ./run.sh.
import PackageDescription

let package = Package(
    name: "RPCBench",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The Souk package (products SoukRPC and TestContracts).
        .package(name: "Souk", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", exact: "2.9.2"),
    ],
    targets: [
        .target(name: "RPCBenchKit", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "GRPCCore", package: "grpc-swift-2"),
        ]),
        .executableTarget(name: "rpcbench-server", dependencies: [
            "RPCBenchKit",
            .product(name: "SoukRPC", package: "Souk"),
            .product(name: "TestContracts", package: "Souk"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
        ]),
        .executableTarget(name: "rpcbench-souk-server", dependencies: [
            .product(name: "SoukRPC", package: "Souk"),
            .product(name: "TestContracts", package: "Souk"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "rpcbench-client", dependencies: [
            "RPCBenchKit",
            .product(name: "SoukRPC", package: "Souk"),
            .product(name: "TestContracts", package: "Souk"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
        ]),
    ]
)
