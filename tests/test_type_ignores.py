"""Every ``# type: ignore`` in the package names its error code and says why."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "cytogate"
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")


def unexplained_ignores(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` of each ignore without an error code or without a ``# reason`` after it."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = IGNORE.search(line)
        if match and (not match["codes"] or not re.match(r"\s+#\s*\S", match["rest"])):
            found.append((number, line.strip()))
    return found


def test_the_check_tells_a_reason_from_none():
    assert unexplained_ignores("x = f()  # type: ignore[arg-type]\n") == [(1, "x = f()  # type: ignore[arg-type]")]
    assert unexplained_ignores("x = f()  # type: ignore\n") == [(1, "x = f()  # type: ignore")]
    assert unexplained_ignores("x = f()  # type: ignore  # no code\n") == [(1, "x = f()  # type: ignore  # no code")]
    assert unexplained_ignores("x = f()  # type: ignore[arg-type]  #\n") != []
    assert unexplained_ignores("x = f()  # type: ignore[arg-type]  # numba has no stubs\n") == []


def test_every_type_ignore_in_src_says_why():
    bare = [f"{path.relative_to(SRC)}:{number}: {line}"
            for path in sorted(SRC.rglob("*.py")) for number, line in unexplained_ignores(path.read_text())]
    assert bare == [], "\n".join(bare)
