#!/usr/bin/env python3
"""Build an archive of many real series: an mbox for the dashboard benchmarks.

The real threads and patches under tests/fixtures (the zap/shmem/uffd v4
thread with its review replies, its v3 in a thread of its own, the 6.1
series, two gup patches, a patch with a reply) and, when present, the
labelled corpus in corpus/, are copied over and over; every copy gets fresh
Message-IDs (In-Reply-To and References follow) and a subject marked with the
copy number, so that each copy is a series of its own, with the threading,
revisions and review tags of the original.

    python benchmarks/archive.py --patches 5000 -o archive.mbox
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
SEP = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"
_ID = re.compile(rb"<([^<>\s]+@[^<>\s]+)>")
_HEADER_IDS = re.compile(rb"(?mi)^(Message-I[Dd]|In-Reply-To|References):([^\n]*(?:\n[ \t][^\n]*)*)")
_SUBJECT = re.compile(rb"(?mi)^(Subject:[^\n]*?\[[^\]\n]*(?:PATCH|patch)[^\]\n]*\])")


def _messages(data: bytes) -> list[bytes]:
    sys.path.insert(0, str(REPO))
    from reviewkit.parse.mbox import looks_like_mbox, split_bytes

    if looks_like_mbox(data[:4096]):
        return [m for _, m in split_bytes(data)]
    return [data]


def sources() -> list[list[bytes]]:
    """The real series to copy, each as its list of messages."""
    files = [FIXTURES / "seed-zap-shmem-uffd" / "thread.mbox",
             FIXTURES / "lore" / "zap-v3-thread.mbox",
             FIXTURES / "linux-6.1" / "series.mbox",
             FIXTURES / "gup" / "follow-hugepd-slow.patch",
             FIXTURES / "gup" / "hugepd-fast-only.patch",
             FIXTURES / "edge" / "from-escape.mbox"]
    corpus = REPO / "corpus"
    if corpus.is_dir():
        files += sorted(p for p in corpus.rglob("*") if p.is_file()
                        and p.suffix in (".mbox", ".eml", ".patch"))
    out = []
    for f in files:
        msgs = [m for m in _messages(f.read_bytes()) if m.strip()]
        if msgs:
            out.append(msgs)
    return out


def copy(msg: bytes, k: int) -> bytes:
    """One message of copy K: fresh Message-IDs, the subject marked."""
    def ids(m: re.Match) -> bytes:
        return m.group(1) + b":" + _ID.sub(lambda i: b"<c%d." % k + i.group(1) + b">", m.group(2))

    end = msg.find(b"\n\n")
    head, body = (msg, b"") if end < 0 else (msg[:end], msg[end:])
    head = _HEADER_IDS.sub(ids, head)
    head = _SUBJECT.sub(lambda m: m.group(1) + b" c%d:" % k, head, count=1)
    return head + body


def patch_count(msgs: list[bytes]) -> int:
    return sum(1 for m in msgs if b"\ndiff --git " in m and not re.search(
        rb"(?mi)^Subject:\s*(Re|Aw|Sv):", m))


def build(patches: int, out: Path, start: int = 0) -> tuple[int, int]:
    """Write rounds of copies until ``patches`` patches are in; returns (rounds, patches)."""
    srcs = sources()
    written = k = 0
    with out.open("wb") as fp:
        while written < patches:
            for s in srcs:  # one round: copy k of every source (v3 and v4 stay one series)
                if written >= patches:
                    break
                for m in s:
                    m = re.sub(rb"(?m)^(>*From )", rb">\1", copy(m, start + k))
                    fp.write(SEP + m.rstrip(b"\n") + b"\n\n")
                written += patch_count(s)
            k += 1
    return k, written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, default=5000)
    ap.add_argument("--start", type=int, default=0, help="first copy number")
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    copies, written = build(args.patches, args.output, args.start)
    print(f"{args.output}: {copies} copies of {len(sources())} real series, {written} patches, "
          f"{args.output.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
