"""Request and response metadata (PROTOCOL.md section 3, ``MetadataEntry``).

In Python, metadata is a list of ``(key, value)`` pairs (a dict is accepted
too): ``str`` values for ordinary keys, ``bytes`` for keys ending in ``-bin``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ._pb import frame_pb2

#: Lower-case ASCII letters, digits, ``-``, ``_``, ``.``; 1 to 64 characters
#: (the length bound is frame.proto's).
_KEY = re.compile(r"[a-z0-9_.\-]{1,64}")
#: frame.proto: text values are printable ASCII, values at most 8192 bytes.
_TEXT = re.compile(r"[\x20-\x7e]*")
MAX_VALUE_BYTES = 8192

Metadata = "Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]]"


def is_binary_key(key: str) -> bool:
    return key.endswith("-bin")


def to_entries(metadata) -> list:
    """Validate metadata and turn it into ``MetadataEntry`` messages, in order.

    Raises ValueError for a bad key or value, TypeError for a value of the
    wrong type (``bytes`` under a ``-bin`` key, ``str`` otherwise).
    """
    if metadata is None:
        return []
    items = metadata.items() if isinstance(metadata, Mapping) else metadata
    entries = []
    for item in items:
        try:
            key, value = item
        except (TypeError, ValueError):
            raise TypeError(f"metadata entries are (key, value) pairs, not {item!r}") from None
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ValueError(
                f"bad metadata key {key!r}: 1 to 64 of lower-case ASCII letters, digits, '-', '_', '.'")
        entry = frame_pb2.MetadataEntry(key=key)
        if is_binary_key(key):
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise TypeError(f"metadata key {key!r} ends in -bin: its value must be bytes, not "
                                f"{type(value).__name__}")
            value = bytes(value)
            if len(value) > MAX_VALUE_BYTES:
                raise ValueError(f"metadata value of {key!r} is over {MAX_VALUE_BYTES} bytes")
            entry.binary = value
        else:
            if not isinstance(value, str):
                raise TypeError(f"metadata key {key!r} carries text: its value must be str, not "
                                f"{type(value).__name__} (binary values need a key ending in -bin)")
            if not _TEXT.fullmatch(value):
                raise ValueError(f"metadata value of {key!r} must be printable ASCII (0x20-0x7E)")
            if len(value) > MAX_VALUE_BYTES:
                raise ValueError(f"metadata value of {key!r} is over {MAX_VALUE_BYTES} bytes")
            entry.text = value
        entries.append(entry)
    return entries


def from_entries(entries) -> list[tuple[str, str | bytes]]:
    """``MetadataEntry`` messages (or look-alikes with key/text/binary) as pairs."""
    pairs: list[tuple[str, str | bytes]] = []
    for entry in entries:
        which = entry.WhichOneof("value")
        if which == "binary":
            pairs.append((entry.key, bytes(entry.binary)))
        elif which == "text":
            pairs.append((entry.key, entry.text))
        else:  # neither set: an empty value of the kind the key implies
            pairs.append((entry.key, b"" if is_binary_key(entry.key) else ""))
    return pairs
