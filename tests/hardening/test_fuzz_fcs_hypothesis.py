"""Property-based FCS tests (hypothesis).

* Valid files round-trip: whatever ``write_fcs`` accepts, ``read_fcs`` gives
  back bit for bit (events, channel names, markers, keywords).
* Random HEADERs and TEXT segments (layout keywords with arbitrary values,
  random offsets, random DATA): ``read_fcs``/``read_metadata`` return or raise
  FcsError, in a worker subprocess under a time limit and a memory bound.

Seeds are derandomised so the normal suite is deterministic; ``make fuzz``
(``-m slow``) runs many more examples and prints how many ran.
"""

from __future__ import annotations

import os
import string
import warnings

import numpy as np
import pytest
from fuzz_harness import FuzzRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cytogate.fcs import read_fcs, read_metadata, write_fcs

QUICK_EXAMPLES = 120
CAMPAIGN_EXAMPLES = int(os.environ.get("CYTOGATE_FUZZ_EXAMPLES", "4000"))
_COMMON = dict(deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                      HealthCheck.data_too_large])

# -- valid files round-trip ----------------------------------------------------------------

# Every printable TEXT delimiter candidate is included, so values that contain or start with one are drawn.
_NAME_CHARS = string.ascii_letters + string.digits + "-_ .:()+#/,*µäé|\\!~^@&%`"
names = st.text(_NAME_CHARS, min_size=1, max_size=12).map(str.strip).filter(bool)


@st.composite
def valid_files(draw):
    n_par = draw(st.integers(1, 6))
    n_events = draw(st.integers(0, 60))
    datatype = draw(st.sampled_from(["F", "D"]))
    dtype = np.float32 if datatype == "F" else np.float64
    events = draw(hnp.arrays(dtype, (n_events, n_par),
                             elements=st.floats(allow_nan=True, allow_infinity=True, width=32 if datatype == "F" else 64)))
    channels = draw(st.lists(names, min_size=n_par, max_size=n_par, unique=True))
    markers = draw(st.lists(st.one_of(st.none(), names), min_size=n_par, max_size=n_par))
    keys = st.text(string.ascii_uppercase + string.digits + "_", min_size=1, max_size=10).filter(
        lambda k: not k.startswith("P") and k[0].isalpha())
    values = st.text(_NAME_CHARS, min_size=1, max_size=20).filter(lambda v: v.strip())
    extra = draw(st.dictionaries(keys.map(lambda k: "X" + k), values, max_size=5))
    return events, channels, markers, extra, datatype


@pytest.mark.slow
@settings(max_examples=CAMPAIGN_EXAMPLES // 4, **_COMMON)
@given(case=valid_files())
def test_valid_files_round_trip_campaign(tmp_path, case):
    _round_trip(tmp_path, case)


@settings(max_examples=QUICK_EXAMPLES, **_COMMON)
@given(case=valid_files())
def test_valid_files_round_trip(tmp_path, case):
    _round_trip(tmp_path, case)


def _round_trip(tmp_path, case) -> None:
    events, channels, markers, extra, datatype = case
    path = write_fcs(tmp_path / "rt.fcs", events, channels, markers=markers, keywords=extra, datatype=datatype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sample = read_fcs(path, scale=False)
        meta = read_metadata(path)
        got = sample.events
    assert sample.channels == tuple(channels)
    assert meta.channels == tuple(channels)
    assert sample.markers == tuple(m if m and m.strip() else None for m in markers)
    assert sample.n_events == events.shape[0]
    assert got.dtype == events.dtype
    np.testing.assert_array_equal(got.view(np.uint8), np.ascontiguousarray(events).view(np.uint8))
    for key, value in extra.items():
        assert sample.keywords[key.upper()] == value
    for i in range(len(channels)):
        np.testing.assert_array_equal(read_fcs(path).column(i).view(np.uint8),
                                      np.ascontiguousarray(events[:, i]).view(np.uint8))


@pytest.mark.parametrize("name", ["/", "/CD8", "//", "CD8/", "a//b", "|/\\"])
def test_channel_name_at_the_delimiter_round_trips(tmp_path, name):
    path = write_fcs(tmp_path / "d.fcs", np.zeros((2, 1), dtype=np.float32), [name])
    assert read_fcs(path).channels == (name,)


def test_every_delimiter_candidate_in_use_still_round_trips(tmp_path):
    """When every candidate delimiter occurs in some value, one is escaped by doubling (FCS 3.1) and reads back."""
    from cytogate.fcs.writer import _DELIMS

    keywords = {"XALL": "x" + _DELIMS, "XSTART": "/CD8", "XEND": "CD8/", "XMID": "a//b"}
    path = write_fcs(tmp_path / "all.fcs", np.zeros((2, 2), dtype=np.float32), ["/A", "B|"], keywords=keywords)
    sample = read_fcs(path)
    assert sample.channels == ("/A", "B|")
    assert {k: sample.keywords[k] for k in keywords} == keywords


# -- random HEADERs and TEXT segments -------------------------------------------------------

_NUMBERS = st.one_of(
    st.integers(-5, 70).map(str), st.integers(0, 10**13).map(str),
    st.sampled_from(["", " ", "abc", "1e3", "nan", "inf", "-0", "1,2", "*", "2.5", "99999999999999999999999"]),
)
_LAYOUT_VALUES = {
    "$PAR": _NUMBERS, "$TOT": _NUMBERS, "$BEGINDATA": _NUMBERS, "$ENDDATA": _NUMBERS, "$NEXTDATA": _NUMBERS,
    "$BEGINSTEXT": _NUMBERS, "$ENDSTEXT": _NUMBERS, "$TIMESTEP": _NUMBERS,
    "$DATATYPE": st.sampled_from(["I", "F", "D", "A", "X", "", "i"]),
    "$MODE": st.sampled_from(["L", "C", "U", ""]),
    "$BYTEORD": st.one_of(st.sampled_from(["1,2,3,4", "4,3,2,1", "1,2", "2,1", "3,4,1,2", "1", "1,1", ""]),
                          st.lists(st.integers(-1, 9), max_size=9).map(lambda v: ",".join(map(str, v)))),
    "$SPILLOVER": st.one_of(_NUMBERS, st.just("2,A,B,1,0,0,1"), st.just("3,A")),
}


@st.composite
def random_fcs(draw):
    n_par = draw(st.integers(0, 5))
    pairs = {key: draw(values) for key, values in _LAYOUT_VALUES.items() if draw(st.booleans())}
    for n in range(1, n_par + 1):
        pairs[f"$P{n}N"] = draw(st.sampled_from(["FSC-A", "SSC-A", "Time", "FL1", "", "FSC-A"]))
        pairs[f"$P{n}B"] = draw(st.one_of(st.sampled_from(["8", "16", "32", "64", "10", "24"]), _NUMBERS))
        if draw(st.booleans()):
            pairs[f"$P{n}R"] = draw(_NUMBERS)
        if draw(st.booleans()):
            pairs[f"$P{n}E"] = draw(st.sampled_from(["0,0", "4,0", "4,1", "x", "1e308,1", "-1,0"]))
        if draw(st.booleans()):
            pairs[f"$P{n}G"] = draw(_NUMBERS)
    delim = draw(st.sampled_from([b"/", b"|", b"\x0c", b"*", b"\\"]))
    body = b"".join(k.encode() + delim + v.encode().replace(delim, delim * 2) + delim for k, v in pairs.items())
    if draw(st.booleans()):
        body = draw(st.binary(max_size=200)) + body  # junk in front of the keywords
    text = delim + body
    data = draw(st.binary(max_size=600))
    text_start = 58
    text_end = text_start + len(text) - 1
    consistent = draw(st.booleans())
    offsets = [text_start, text_end, text_end + 1, text_end + len(data), 0, 0]
    if not consistent:
        offsets = [draw(st.one_of(st.just(o), st.integers(0, 10**8 - 1))) for o in offsets]
    fields = b"".join(str(o).rjust(8).encode()[-8:] for o in offsets)
    version = draw(st.sampled_from([b"FCS3.1", b"FCS3.0", b"FCS2.0", b"FCS3.2", b"FCS1.0", b"FCS4.0"]))
    content = version + b"    " + fields + text + data
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(content)))
        content = content[:cut]
    return content


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    with FuzzRunner(tmp_path_factory.mktemp("hypo")) as fuzz:
        yield fuzz


def _random_case(runner: FuzzRunner, content: bytes) -> None:
    result = runner.run_bytes(content, f"hypothesis case {content[:80]!r}")
    assert result.problem() is None, result.problem()


@settings(max_examples=QUICK_EXAMPLES, **_COMMON)
@given(content=random_fcs())
def test_random_text_and_header(runner, content):
    _random_case(runner, content)


@pytest.mark.slow
def test_random_text_and_header_campaign(runner, capsys):
    before = runner.ran

    @settings(max_examples=CAMPAIGN_EXAMPLES, **{**_COMMON, "derandomize": False})
    @given(content=random_fcs())
    def campaign(content):
        _random_case(runner, content)

    campaign()
    with capsys.disabled():
        print(f"\nFCS hypothesis campaign: {runner.ran - before} random files")
    assert runner.ran - before > 0
