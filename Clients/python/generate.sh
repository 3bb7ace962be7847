#!/usr/bin/env bash
# Generate souk_rpc's Python message classes from Protos/ (and the interop test
# contract in Tests/Protos/) into Clients/python/build/gen (git-ignored), with
# `python -m grpc_tools.protoc`. PYTHON picks the interpreter (default: python3).
#   Clients/python/generate.sh [--out DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "${PYTHON:-python3}" "$here/souk_rpc/codegen.py" "$@"
