"""Byte-level mutations of a valid message, for the intake fuzz tests."""

from __future__ import annotations

from hypothesis import strategies as st

KINDS = ("flip", "delete", "insert", "truncate", "swap_tag")
EDIT = st.tuples(st.sampled_from(KINDS), st.integers(min_value=0), st.binary(min_size=1, max_size=12))


def mutate(seed: bytes, edits) -> bytes:
    raw = bytearray(seed)
    for kind, pos, data in edits:
        if not raw:
            break  # truncated to nothing: an empty body is a case of its own
        pos %= len(raw)
        if kind == "flip":
            raw[pos] ^= data[0] or 1
        elif kind == "delete":
            del raw[pos : pos + len(data)]
        elif kind == "insert":
            raw[pos:pos] = data
        elif kind == "truncate":
            del raw[pos:]
        else:  # rename the element that starts nearest after pos
            start = raw.find(b"<", pos)
            if start >= 0:
                raw[start + 1 : start + 1] = b"X"
    return bytes(raw)
