"""souk_rpc: a Python client of the Souk RPC protocol (PROTOCOL.md, version 1).

    import souk_rpc
    from souk.rpc.v1 import health_pb2   # generated, see souk_rpc.codegen

    with souk_rpc.connect("127.0.0.1", 7000, timeout=5) as conn:
        reply = conn.call("/souk.rpc.v1.HealthService/Check",
                          health_pb2.HealthCheckRequest(), health_pb2.HealthCheckResponse,
                          timeout=1.0, metadata={"x-request-id": "r1"})
"""

from ._pb import frame_pb2, health_pb2
from .codegen import generate
from .connection import (Call, Connection, RawReply, Reply, RpcError, connect, connect_async,
                         timeout_to_ms)
from .framing import (CLIENT_PREFACE, DEFAULT_MAX_FRAME_LENGTH, DEFAULT_MAX_HEADER_LENGTH,
                      FrameDecoder, ProtocolError, StatusCode, encode_frame)

HEALTH_CHECK = "/souk.rpc.v1.HealthService/Check"


def health_check(connection: Connection, service: str = "", timeout: float | None = None):
    """``souk.rpc.v1.HealthService/Check``: the serving status (a ServingStatus number)."""
    response = connection.call(HEALTH_CHECK, health_pb2.HealthCheckRequest(service=service),
                               health_pb2.HealthCheckResponse, timeout=timeout)
    return response.status


__all__ = [
    "CLIENT_PREFACE", "Call", "Connection", "DEFAULT_MAX_FRAME_LENGTH", "DEFAULT_MAX_HEADER_LENGTH",
    "FrameDecoder", "HEALTH_CHECK", "ProtocolError", "RawReply", "Reply", "RpcError",
    "StatusCode", "connect", "connect_async", "encode_frame", "frame_pb2", "generate",
    "health_check", "health_pb2", "timeout_to_ms",
]
__version__ = "0.1.0"
