"""TEXT segment: the delimiter-separated keyword/value pairs.

The first byte of TEXT is the delimiter.  FCS 3.x escapes a delimiter inside a
value by doubling it and forbids empty values; older writers (FCS 2.0, CellQuest)
use a doubled delimiter for an *empty* value instead.  The two readings of a
doubled delimiter are told apart by which one yields a well-formed keyword list
(an even number of tokens, no empty keyword, no keyword containing the
delimiter); the FCS 3 reading wins when both do.  TEXT that does not end with its
delimiter is accepted (the last value runs to the end of the segment).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path

from ..errors import FcsError

__all__ = ["parse_text", "get_int", "get_float", "get_str"]

_log = logging.getLogger(__name__)


def _decode(token: bytes) -> str:
    try:
        return token.decode("utf-8")
    except UnicodeDecodeError:
        # Pre-3.1 files use 8-bit code pages; latin-1 never fails and keeps every byte.
        return token.decode("latin-1")


def _escaped_tokens(parts: list[bytes], delim: bytes) -> list[bytes]:
    """Join parts around empty parts: ``a``, ``""``, ``b`` is the value ``a<d>b``."""
    tokens: list[bytes] = []
    current = parts[0]
    i = 1
    n = len(parts)
    while i < n:
        part = parts[i]
        if part == b"" and i + 1 < n:
            current = current + delim + parts[i + 1]
            i += 2
        else:
            tokens.append(current)
            current = part
            i += 1
    tokens.append(current)
    return tokens


def _well_formed(tokens: list[bytes], delim: bytes) -> bool:
    if len(tokens) % 2:
        return False
    keys = tokens[0::2]
    return all(key.strip() and delim not in key for key in keys)


def parse_text(raw: bytes, path: Path, *, offset: int) -> dict[str, str]:
    """Parse a TEXT (or supplemental TEXT) segment into a keyword dictionary.

    Parameters
    ----------
    raw : bytes
        The segment, starting with its delimiter.
    path : Path
        For error messages.
    offset : int
        File position of ``raw[0]``, for error messages.

    Returns
    -------
    dict
        Keys stripped and upper-cased (``$`` kept), values as written (not stripped).
        When a key repeats, the first value is kept.
    """
    if len(raw) < 2:
        raise FcsError("TEXT segment is empty", path=path, offset=offset)
    delim = raw[:1]
    if delim in b"0123456789" or delim.isalpha():
        raise FcsError(f"TEXT segment starts with {delim!r}, not a delimiter", path=path, offset=offset)
    body = raw[1:]
    # Trailing padding after the final delimiter (blanks, NULs, CR/LF) is not a token.
    end = body.rstrip(b" \x00\r\n")
    if end.endswith(delim):
        body = end
    parts = body.split(delim)
    if parts and parts[-1] == b"" and body.endswith(delim):
        parts.pop()
    if not parts:
        raise FcsError("TEXT segment holds no keywords", path=path, offset=offset)

    tokens = _escaped_tokens(parts, delim)
    if not _well_formed(tokens, delim):
        plain = parts
        if _well_formed(plain, delim):
            _log.debug("%s: doubled TEXT delimiters read as empty values (pre-FCS-3 style)", path)
            tokens = plain
        else:
            # Last resort: a dangling keyword without value at the end.
            if len(tokens) % 2:
                tokens = tokens[:-1]
            if not tokens or not _well_formed(tokens, delim):
                raise FcsError(
                    "TEXT segment is malformed: keywords and values do not pair up "
                    f"({len(tokens)} tokens with delimiter {delim!r})",
                    path=path,
                    offset=offset,
                )
    keywords: dict[str, str] = {}
    for key_raw, value_raw in zip(tokens[0::2], tokens[1::2]):
        key = _decode(key_raw).strip().upper()
        if key not in keywords:
            keywords[key] = _decode(value_raw)
    return keywords


def get_str(keywords: Mapping[str, str], key: str) -> str | None:
    """Stripped value of ``key``, or None when absent or blank."""
    value = keywords.get(key)
    if value is None:
        return None
    value = value.strip()
    return value or None


def get_float(keywords: Mapping[str, str], key: str, path: Path, *, default: float | None = None) -> float | None:
    """Value of ``key`` as a finite float; ``default`` when absent or blank."""
    value = get_str(keywords, key)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise FcsError(f"keyword {key} has value {value!r}, expected a number", path=path) from None
    if not math.isfinite(number):
        raise FcsError(f"keyword {key} has value {value!r}, expected a finite number", path=path)
    return number


def get_int(keywords: Mapping[str, str], key: str, path: Path, *, default: int | None = None) -> int | None:
    """Value of ``key`` as a non-negative integer; ``default`` when absent or blank.

    Integral floats such as ``"1024.0"`` are accepted (some writers emit them).
    """
    value = get_str(keywords, key)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        try:
            as_float = float(value)
        except ValueError:
            raise FcsError(f"keyword {key} has value {value!r}, expected an integer", path=path) from None
        if not math.isfinite(as_float) or as_float != int(as_float):
            raise FcsError(f"keyword {key} has value {value!r}, expected an integer", path=path) from None
        number = int(as_float)
    if number < 0:
        raise FcsError(f"keyword {key} has negative value {value!r}", path=path)
    return number
