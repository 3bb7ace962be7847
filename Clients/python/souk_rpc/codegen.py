"""Generate the Python message classes of Souk's .proto files with grpcio-tools.

Nothing generated is committed: the classes are made at build/test time into a
git-ignored folder (by default ``Clients/python/build/gen``), which
:mod:`souk_rpc._pb` puts on ``sys.path``. Runnable as a script::

    python -m souk_rpc.codegen [--out DIR] [--protos DIR] [--tests-protos DIR]

or through ``Clients/python/generate.sh``. Needs ``grpcio-tools`` (a build/test
dependency); the generated code needs only ``protobuf`` at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

CLIENT_DIR = Path(__file__).resolve().parent.parent  # Clients/python
REPO_ROOT = CLIENT_DIR.parent.parent  # the Souk repository

#: The test contract the interop tests need, relative to ``Tests/Protos``.
TEST_PROTOS = ("souk/test/v1/interop.proto",)

STAMP = ".souk-rpc-gen-stamp"


def default_out_dir() -> Path:
    return Path(os.environ.get("SOUK_RPC_GEN_DIR") or CLIENT_DIR / "build" / "gen")


def default_protos_dir() -> Path:
    return Path(os.environ.get("SOUK_PROTOS_DIR") or REPO_ROOT / "Protos")


def default_tests_protos_dir() -> Path | None:
    path = Path(os.environ.get("SOUK_TEST_PROTOS_DIR") or REPO_ROOT / "Tests" / "Protos")
    return path if path.is_dir() else None


def _inputs(protos_dir: Path, tests_protos_dir: Path | None) -> list[tuple[Path, Path]]:
    """(include root, file) for every .proto to compile."""
    files = [(protos_dir, p) for p in sorted(protos_dir.rglob("*.proto"))]
    if tests_protos_dir is not None:
        for rel in TEST_PROTOS:
            path = tests_protos_dir / rel
            if path.is_file():
                files.append((tests_protos_dir, path))
    return files


def _fingerprint(inputs: list[tuple[Path, Path]]) -> str:
    digest = hashlib.sha256()
    for root, path in inputs:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def is_up_to_date(out_dir: Path | None = None, protos_dir: Path | None = None,
                  tests_protos_dir: Path | None = None) -> bool:
    out_dir = out_dir or default_out_dir()
    protos_dir = protos_dir or default_protos_dir()
    tests_protos_dir = tests_protos_dir or default_tests_protos_dir()
    stamp = out_dir / STAMP
    if not stamp.is_file() or not protos_dir.is_dir():
        return False
    return stamp.read_text().strip() == _fingerprint(_inputs(protos_dir, tests_protos_dir))


def generate(out_dir: Path | None = None, protos_dir: Path | None = None,
             tests_protos_dir: Path | None = None, python: str | None = None) -> Path:
    """Run ``python -m grpc_tools.protoc`` over ``Protos/`` (and the interop test
    contract under ``Tests/Protos/`` when present) into ``out_dir``; return it."""
    out_dir = Path(out_dir or default_out_dir())
    protos_dir = Path(protos_dir or default_protos_dir())
    tests_protos_dir = tests_protos_dir or default_tests_protos_dir()
    if not protos_dir.is_dir():
        raise FileNotFoundError(f"no Protos/ folder at {protos_dir} (set SOUK_PROTOS_DIR)")
    try:
        import grpc_tools  # noqa: F401  (only to locate its bundled include folder)
    except ImportError as error:
        raise ImportError(
            "generating souk_rpc's message classes needs grpcio-tools "
            "(pip install -r Tools/requirements-dev.txt)") from error
    grpc_include = Path(grpc_tools.__file__).resolve().parent / "_proto"
    inputs = _inputs(protos_dir, tests_protos_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    roots = [protos_dir] + ([tests_protos_dir] if tests_protos_dir else [])
    command = [python or sys.executable, "-m", "grpc_tools.protoc"]
    command += [f"-I{root}" for root in roots]
    command += [f"-I{grpc_include}", f"--python_out={out_dir}"]
    command += [str(path) for _, path in inputs]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"protoc failed ({result.returncode}):\n{result.stderr}")
    (out_dir / STAMP).write_text(_fingerprint(inputs) + "\n")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default build/gen)")
    parser.add_argument("--protos", type=Path, default=None, help="the Protos/ folder")
    parser.add_argument("--tests-protos", type=Path, default=None, help="the Tests/Protos/ folder")
    args = parser.parse_args(argv)
    out = generate(args.out, args.protos, args.tests_protos)
    print(f"generated Python message classes into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
