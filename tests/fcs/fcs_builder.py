"""Build raw FCS bytes by hand for decoder and bad-file tests (not a test module)."""

from __future__ import annotations

from collections.abc import Sequence


def build_fcs(
    pairs: Sequence[tuple[str, str]],
    data: bytes,
    *,
    version: str = "FCS3.1",
    delimiter: bytes = b"/",
    header_offsets: bool = True,
    text_offsets: bool = True,
    escape: bool = True,
) -> bytes:
    """An FCS file with TEXT from ``pairs`` and the given DATA bytes right after TEXT."""

    def text_for(begin: int, end: int) -> bytes:
        items = list(pairs)
        if text_offsets:
            items = [("$BEGINDATA", str(begin)), ("$ENDDATA", str(end))] + items
        body = b""
        for key, value in items:
            k, v = key.encode(), value.encode()
            if escape:
                k, v = k.replace(delimiter, delimiter * 2), v.replace(delimiter, delimiter * 2)
            body += k + delimiter + v + delimiter
        return delimiter + body

    begin = end = 0
    for _ in range(5):
        text = text_for(begin, end)
        begin = 58 + len(text)
        end = begin + len(data) - 1
    text = text_for(begin, end)
    fields = [58, 58 + len(text) - 1, begin if header_offsets else 0, end if header_offsets else 0, 0, 0]
    header = (version + "    " + "".join(f"{v:>8d}" for v in fields)).encode()
    return header + text + data


def params(n_events: int, specs: Sequence[tuple[str, int, str]], **extra: str) -> list[tuple[str, str]]:
    """Keywords for parameters given as (name, bits, range)."""
    out = [("$PAR", str(len(specs))), ("$TOT", str(n_events)), ("$MODE", "L"), ("$NEXTDATA", "0")]
    for n, (name, bits, rng) in enumerate(specs, start=1):
        out += [(f"$P{n}N", name), (f"$P{n}B", str(bits)), (f"$P{n}R", rng), (f"$P{n}E", "0,0")]
    out += list(extra.items())
    return out
