#!/usr/bin/env bash
# Regenerates Sources/SwiftProtobufOrder/: swift-protobuf's Swift types for the
# contracts codec-bench measures (souk/orders/v1/orders.proto and what it
# imports), unchanged from Protos/. The output is committed, so neither CI nor
# a benchmark run needs protoc or the plugin; run this only when those protos
# or the swift-protobuf version change.
#
# Needs protoc (Debian: protobuf-compiler, which also ships
# google/protobuf/descriptor.proto under /usr/include) and protoc-gen-swift of
# the same swift-protobuf version as Package.swift. Without
# PROTOC_GEN_SWIFT=/path/to/protoc-gen-swift, it builds the plugin from
# swift-protobuf's tag in a scratch folder (about 10 minutes on 2 cores).
#
#     ./generate-swift-protobuf.sh
#     PROTOC_GEN_SWIFT=/tmp/x/.build/release/protoc-gen-swift ./generate-swift-protobuf.sh
set -euo pipefail

SWIFT_PROTOBUF_VERSION=1.39.0   # keep in step with Package.swift
here="$(cd "$(dirname "$0")" && pwd)"
protos="$here/../Protos"
out="$here/Sources/SwiftProtobufOrder"

plugin="${PROTOC_GEN_SWIFT:-}"
if [[ -z "$plugin" ]]; then
    scratch="$(mktemp -d)"
    echo "building protoc-gen-swift $SWIFT_PROTOBUF_VERSION in $scratch" >&2
    git clone --quiet --branch "$SWIFT_PROTOBUF_VERSION" https://github.com/apple/swift-protobuf.git "$scratch/swift-protobuf"
    swift build --package-path "$scratch/swift-protobuf" -c release --product protoc-gen-swift >&2
    plugin="$scratch/swift-protobuf/.build/release/protoc-gen-swift"
fi

# descriptor.proto, which annotations.proto imports: Debian's protobuf-compiler
# puts it under /usr/include; PROTOC_INCLUDE overrides.
include="${PROTOC_INCLUDE:-/usr/include}"
test -f "$include/google/protobuf/descriptor.proto" || {
    echo "google/protobuf/descriptor.proto is not under $include: set PROTOC_INCLUDE" >&2; exit 1; }

rm -f "$out"/*.pb.swift
mkdir -p "$out"
# annotations.proto is generated too (its options are extensions of
# google.protobuf.MethodOptions, which SwiftProtobuf provides), so the protos
# are used exactly as Souk has them. Public, so codec-bench can use the types;
# file names like Souk's own generated files.
protoc \
    --plugin=protoc-gen-swift="$plugin" \
    --swift_out="$out" \
    --swift_opt=Visibility=Public \
    --swift_opt=FileNaming=PathToUnderscores \
    -I "$protos" -I "$include" \
    souk/api/v1/annotations.proto \
    souk/orders/v1/orders.proto
echo "wrote:" >&2
ls "$out" >&2
if [[ -n "${scratch:-}" ]]; then
    echo "the plugin stays in $scratch: PROTOC_GEN_SWIFT=$plugin reuses it, rm -rf removes it" >&2
fi
