"""Random bytes and mutated real messages never raise out of the parser.

The parser may refuse an input (NoPatchesError: nothing reviewable), but no
other exception may escape, and whatever it returns is a usable Series.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviewkit.parse.mbox import split_bytes
from reviewkit.parse.series import NoPatchesError, RawMessage, build_series

from conftest import EDGE, SEED

REAL = [p.read_bytes() for p in sorted(SEED.glob("0[0-4]_*.eml"))]
REAL += [(EDGE / n).read_bytes() for n in ("qp.eml", "quilt.eml", "rename.patch", "binary.patch")]
SERIES = (SEED / "series.mbox").read_bytes()

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def parse_all(data: bytes):
    try:
        s = build_series([RawMessage(f"m:{n}", d) for n, d in split_bytes(data)] or
                         [RawMessage("m", data)])
    except NoPatchesError:
        return None
    for p in s.patches:
        assert p.files
        for f in p.files:
            assert f.path
            for h in f.hunks:
                for ln in h.lines:
                    assert ln.kind in "+- "
    return s


@SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    parse_all(data)


@SETTINGS
@given(st.sampled_from(REAL), st.data())
def test_mutated_real_messages(msg, data):
    ops = data.draw(st.lists(st.tuples(
        st.sampled_from(["flip", "delete", "insert", "truncate", "dup-line"]),
        st.integers(min_value=0, max_value=len(msg) - 1),
        st.binary(min_size=1, max_size=8)), min_size=1, max_size=6))
    buf = bytearray(msg)
    for op, pos, blob in ops:
        pos = min(pos, max(len(buf) - 1, 0))
        if op == "flip" and buf:
            buf[pos] ^= blob[0] or 1
        elif op == "delete":
            del buf[pos:pos + len(blob) * 8]
        elif op == "insert":
            buf[pos:pos] = blob
        elif op == "truncate":
            del buf[pos:]
        elif op == "dup-line":
            start = buf.rfind(b"\n", 0, pos) + 1
            end = buf.find(b"\n", pos)
            end = len(buf) if end < 0 else end + 1
            buf[start:start] = buf[start:end]
    parse_all(bytes(buf))


@SETTINGS
@given(st.lists(st.integers(min_value=0, max_value=len(SERIES) - 1), min_size=1, max_size=4))
def test_series_cut_anywhere(cuts):
    buf = SERIES
    for c in sorted(set(cuts), reverse=True):
        buf = buf[:c] + b"\n" + buf[c + 1:]
    parse_all(buf)
