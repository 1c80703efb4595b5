"""Deterministic byte-level mutations of FCS files (a helper for the fuzz tests, not a test module).

Mutations are generated from a file's own layout: truncations at structural
points, flipped bytes in HEADER/TEXT/DATA, edited HEADER offset fields, and
TEXT keyword values replaced by absurd ones.  Keyword edits rewrite the file
consistently (HEADER offsets, ``$BEGINDATA``/``$ENDDATA``/``$NEXTDATA`` shifted
by the change in TEXT length) so that each case tests the edited value and not
an accidental offset error; offset errors have their own cases.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HEADER_FIELDS = (10, 18, 26, 34, 42, 50)  # text start/end, data start/end, analysis start/end

# Absurd values for the keywords that define the layout (issue 8).
ABSURD = {
    "$TOT": ["0", "1", "-1", "1000000000000", "99999999999999999999999", "abc", "1e3", "nan", "2.5", " "],
    "$PAR": ["0", "1", "-3", "1000000", "abc", "1.5", "+1", "{n_plus}", "{n_minus}"],
    "$P1B": ["0", "7", "1000", "-8", "abc", "*", "24", "12", "64", "1", "8"],
    "$P{last}B": ["0", "7", "1000", "64", "3"],
    "$P1R": ["0", "-1", "1e308", "abc", "inf", "nan", "1", "18446744073709551617"],
    "$P{last}R": ["0", "2", "-5"],
    "$P1E": ["4,0", "abc", "-1,0", "1e308,1", "0,0,0", "nan,1", "4", "400,1"],
    "$P1G": ["0", "-1", "abc", "inf", "1e-300"],
    "$DATATYPE": ["X", "A", "", "D", "F", "I", "f"],
    "$BYTEORD": ["", "1,2,3", "4,3,2,1,5", "1,1,1,1", "0,1", "a,b", "2,1", "1,2,3,4,5,6,7,8", "1", "3,4,1,2"],
    "$BEGINDATA": ["0", "-1", "999999999999", "abc", "{data_minus}", "{size}", "1"],
    "$ENDDATA": ["0", "-1", "999999999999", "abc", "{data_start}", "{size}"],
    "$NEXTDATA": ["1", "58", "-1", "99999999999", "abc", "{size}", "{half}"],
    "$MODE": ["H", "C", "U", ""],
    "$TIMESTEP": ["abc", "0", "-1", "inf"],
    "$SPILLOVER": ["abc", "2,A,B,1", "1000000000,A", "3,a,b,c,1,0,0,0,1,0,0,0,nan", "-1"],
    "SPILL": ["abc", "2,A,B,1", "1000000000,A", "0"],
    "$BEGINSTEXT": ["58", "-1", "999999999999", "{text_start}"],
    "$ENDSTEXT": ["{size}", "999999999999", "{text_end}"],
}
GARBAGE = ["", " ", "abc", "-1", "0", "1e999", "nan", "99999999999999999999", "\x00", "\xff\xfe", "/", "1,2,3"]


@dataclass(frozen=True)
class Layout:
    """Where HEADER, TEXT and DATA are, read leniently (junk offsets become 0)."""

    text_start: int
    text_end: int
    data_start: int
    data_end: int
    delim: bytes
    n_par: int


def _field(content: bytes, at: int) -> int:
    text = content[at : at + 8].strip()
    return int(text) if text.isdigit() else 0


def layout(content: bytes) -> Layout:
    ts, te, ds, de = (_field(content, at) for at in HEADER_FIELDS[:4])
    delim = content[ts : ts + 1] or b"/"
    n_par = 1
    text = content[ts : te + 1]
    found = re.search(re.escape(delim) + rb"\$PAR" + re.escape(delim) + rb"\s*(\d+)", text, re.IGNORECASE)
    if found:
        n_par = max(1, int(found.group(1)))
    return Layout(ts, te, ds, de, delim, n_par)


def _value_span(text: bytes, key: str, delim: bytes) -> tuple[int, int] | None:
    """(start, end) of ``key``'s value inside TEXT (first occurrence, FCS 3 escaping)."""
    pattern = re.escape(delim) + re.escape(key.encode()) + re.escape(delim)
    found = re.search(pattern, text, re.IGNORECASE)
    if found is None:
        return None
    start = found.end()
    i = start
    while i < len(text):
        if text[i : i + 1] == delim:
            if text[i + 1 : i + 2] == delim:
                i += 2
                continue
            break
        i += 1
    return start, i


def get_value(content: bytes, key: str) -> str | None:
    lay = layout(content)
    text = content[lay.text_start : lay.text_end + 1]
    span = _value_span(text, key, lay.delim)
    return None if span is None else text[span[0] : span[1]].decode("latin-1")


def _edit_text(text: bytes, edits: dict[str, str | None], delim: bytes) -> bytes:
    for key, value in edits.items():
        span = _value_span(text, key, delim)
        if span is None:
            continue
        if value is None:  # delete the keyword and its value
            key_start = span[0] - len(key) - 1
            text = text[:key_start] + text[span[1] :]
            continue
        encoded = value.encode("latin-1").replace(delim, delim * 2)
        text = text[: span[0]] + encoded + text[span[1] :]
    return text


def _put_field(header: bytearray, at: int, value: int) -> None:
    digits = str(value)
    if 0 <= value and len(digits) <= 8:
        header[at : at + 8] = digits.rjust(8).encode()


def rewrite(content: bytes, edits: dict[str, str | None]) -> bytes:
    """Apply keyword edits to the first TEXT segment, keeping every offset consistent."""
    lay = layout(content)
    ts, te = lay.text_start, lay.text_end
    if not (58 <= ts <= te < len(content)):
        return content
    text = content[ts : te + 1]
    moved = {}
    for key in ("$BEGINDATA", "$ENDDATA", "$NEXTDATA", "$BEGINANALYSIS", "$ENDANALYSIS", "$BEGINSTEXT", "$ENDSTEXT"):
        value = get_value(content, key)
        if key not in edits and value is not None and value.strip().isdigit() and int(value) > te:
            moved[key] = int(value)
    new_text = _edit_text(text, edits, lay.delim)
    for _ in range(6):  # shifted offsets can change the TEXT length again
        shift = len(new_text) - len(text)
        adjusted = {k: str(v + shift) for k, v in moved.items()}
        candidate = _edit_text(text, {**edits, **adjusted}, lay.delim)
        if len(candidate) == len(new_text):
            new_text = candidate
            break
        new_text = candidate
    shift = len(new_text) - len(text)
    header = bytearray(content[:ts])
    _put_field(header, 18, te + shift)
    for at in (26, 34, 42, 50):
        value = _field(content, at)
        if value > te:
            _put_field(header, at, value + shift)
    return bytes(header) + new_text + content[te + 1 :]


def _fill(template: str, content: bytes, lay: Layout) -> str:
    return template.format(
        n_plus=lay.n_par + 1, n_minus=max(lay.n_par - 1, 0), data_minus=max(lay.data_start - 1, 0),
        data_start=lay.data_start, size=len(content), half=len(content) // 2,
        text_start=lay.text_start, text_end=lay.text_end,
    )


def keyword_cases(content: bytes) -> Iterator[tuple[str, bytes]]:
    lay = layout(content)
    for key_template, values in ABSURD.items():
        key = key_template.replace("{last}", str(lay.n_par))
        if get_value(content, key) is None and key not in ("$BEGINSTEXT", "$ENDSTEXT"):
            continue
        for template in values:
            value = _fill(template, content, lay)
            yield f"{key}={value!r}", rewrite(content, {key: value})
    for key in ("$PAR", "$TOT", "$BYTEORD", "$DATATYPE", "$P1B", "$P1N", "$BEGINDATA", "$ENDDATA"):
        if get_value(content, key) is not None:
            yield f"delete {key}", rewrite(content, {key: None})


def header_cases(content: bytes) -> Iterator[tuple[str, bytes]]:
    lay = layout(content)
    names = ("text start", "text end", "data start", "data end", "analysis start", "analysis end")
    for name, at in zip(names, HEADER_FIELDS):
        original = _field(content, at)
        for value in (b"       0", b"99999999", b"      -1", b"abcdefgh", b"        ",
                      str(original + 1).rjust(8).encode(), str(max(original - 1, 0)).rjust(8).encode(),
                      str(original + 1000).rjust(8).encode()[-8:], str(len(content)).rjust(8).encode()[-8:]):
            mutated = bytearray(content)
            mutated[at : at + 8] = value
            yield f"HEADER {name}={value.decode().strip()!r}", bytes(mutated)
    swapped = bytearray(content)
    swapped[26:42] = content[34:42] + content[26:34]
    yield "HEADER data start/end swapped", bytes(swapped)
    overlap = bytearray(content)
    overlap[26:34] = str(lay.text_start).rjust(8).encode()
    yield "HEADER data starts inside TEXT", bytes(overlap)
    for version in (b"FCS9.9", b"FCS3.", b"fcs3.1", b"FCS1.0", b"FCS3.2"):
        yield f"version {version!r}", version.ljust(6) + content[6:]


def truncation_points(content: bytes, rng: random.Random, extra: int) -> list[int]:
    lay = layout(content)
    points = {0, 1, 6, 10, 57, 58, 59, lay.text_start + 1, (lay.text_start + lay.text_end) // 2, lay.text_end,
              lay.text_end + 1, lay.data_start, (lay.data_start + lay.data_end) // 2, lay.data_end,
              len(content) - 1}
    points.update(rng.randrange(len(content)) for _ in range(extra))
    return sorted(p for p in points if 0 <= p < len(content))


def flip_cases(content: bytes, rng: random.Random, count: int) -> Iterator[tuple[str, bytes]]:
    lay = layout(content)
    regions = [("HEADER", 0, 58), ("TEXT", lay.text_start, lay.text_end + 1),
               ("DATA", lay.data_start, min(lay.data_end + 1, len(content)))]
    regions = [r for r in regions if r[1] < r[2] <= len(content)]
    for i in range(count):
        name, lo, hi = regions[i % len(regions)]
        mutated = bytearray(content)
        how = rng.choice(("xor", "random", "delim", "splat"))
        at = rng.randrange(lo, hi)
        if how == "xor":
            mutated[at] ^= 1 << rng.randrange(8)
        elif how == "random":
            mutated[at] = rng.randrange(256)
        elif how == "delim":
            mutated[at] = lay.delim[0]
        else:
            width = rng.randrange(1, 16)
            mutated[at : at + width] = bytes(rng.randrange(256) for _ in range(width))
        yield f"{how} {name} byte {at}", bytes(mutated)


def garbage_cases(content: bytes, rng: random.Random, count: int) -> Iterator[tuple[str, bytes]]:
    """Random keywords of the TEXT set to random junk."""
    lay = layout(content)
    text = content[lay.text_start : lay.text_end + 1]
    keys = sorted({m.group(1).decode("latin-1") for m in re.finditer(
        re.escape(lay.delim) + rb"(\$?[A-Za-z][A-Za-z0-9_ ]{0,20})" + re.escape(lay.delim), text)})
    for _ in range(count if keys else 0):
        key = rng.choice(keys)
        value = rng.choice(GARBAGE)
        yield f"{key}={value!r}", rewrite(content, {key: value})


def all_cases(content: bytes, seed: int, *, flips: int, truncations: int, garbage: int) -> list[tuple[str, bytes]]:
    """Every mutation of one file (deterministic for a seed), as (label, bytes)."""
    rng = random.Random(seed)
    cases = [(f"truncated at {p}", content[:p]) for p in truncation_points(content, rng, truncations)]
    cases += list(header_cases(content))
    cases += list(keyword_cases(content))
    cases += list(flip_cases(content, rng, flips))
    cases += list(garbage_cases(content, rng, garbage))
    return cases


def corpus_fcs_files(corpus: Path) -> list[Path]:
    """Every FCS/LMD file of the corpus, sorted."""
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() in (".fcs", ".lmd"))
