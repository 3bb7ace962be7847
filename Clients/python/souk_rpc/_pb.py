"""The generated message classes souk_rpc needs (frame headers, health).

They are generated from ``Protos/`` at build/test time (see
:mod:`souk_rpc.codegen`), into a folder put on ``sys.path`` here. When that
folder is missing or stale and grpcio-tools is installed, it is (re)generated
on import.
"""

from __future__ import annotations

import importlib
import sys

from . import codegen


def _load():
    out_dir = codegen.default_out_dir()
    if not codegen.is_up_to_date(out_dir):
        if codegen.default_protos_dir().is_dir():
            try:
                codegen.generate(out_dir)
            except ImportError as error:
                if not (out_dir / "souk" / "rpc" / "v1" / "frame_pb2.py").is_file():
                    raise ImportError(
                        f"souk_rpc: no generated message classes in {out_dir}; run "
                        "Clients/python/generate.sh (needs grpcio-tools)") from error
        elif not (out_dir / "souk" / "rpc" / "v1" / "frame_pb2.py").is_file():
            raise ImportError(
                f"souk_rpc: no generated message classes in {out_dir} and no Protos/ "
                "to generate them from; set SOUK_RPC_GEN_DIR or SOUK_PROTOS_DIR")
    if str(out_dir) not in sys.path:
        sys.path.insert(0, str(out_dir))
    return (importlib.import_module("souk.rpc.v1.frame_pb2"),
            importlib.import_module("souk.rpc.v1.health_pb2"))


frame_pb2, health_pb2 = _load()
