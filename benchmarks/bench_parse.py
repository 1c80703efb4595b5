"""Parsing FCS files: cytogate against np.fromfile, fcsparser, FlowIO and FlowKit.

Every tool reads an n-event x 20-parameter float32 FCS 3.1 file and fully
materialises the event matrix, then sums it (so that a lazy reader pays for the
decoding it would otherwise skip).  ``np.fromfile`` of the DATA segment is the
physical limit: the same bytes into one array, no parsing.  Target (issue 2):
cytogate >= 0.8 x np.fromfile.

``column``: the gating engine's access pattern -- one channel of the file.
cytogate decodes it through a memory map; np.fromfile has to read everything.
"""

from __future__ import annotations

import warnings

import numpy as np
from harness import Case

from cytogate.fcs import read_fcs, read_metadata

_ORACLES: dict[str, object] = {}


def load_oracles(path: str) -> None:
    """Setup (not timed): import the oracle libraries; FlowKit's import alone takes seconds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("fcsparser", "flowio", "flowkit"):
            try:
                _ORACLES[name] = __import__(name)
            except ImportError:  # the bench extra is missing; that tool's case then fails
                pass


def _need(name: str):  # type: ignore[no-untyped-def]
    if name not in _ORACLES:
        raise RuntimeError(f"{name} is not installed (pip install -e '.[bench]')")
    return _ORACLES[name]


def _data_segment(path: str) -> tuple[int, int]:
    sample = read_metadata(path)
    begin = int(sample.keywords["$BEGINDATA"])
    return begin, int(sample.keywords["$PAR"])


def parse_cytogate(path: str) -> None:
    events = read_fcs(path).events
    float(events.sum())


def parse_fromfile(path: str) -> None:
    begin, n_par = _data_segment(path)
    events = np.fromfile(path, dtype="<f4", offset=begin).reshape(-1, n_par)
    float(events.sum())


def parse_fcsparser(path: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, frame = _need("fcsparser").parse(path, reformat_meta=False)
    float(frame.to_numpy().sum())


def parse_flowio(path: str) -> None:
    events = _need("flowio").FlowData(path).as_array()
    float(events.sum())


def parse_flowkit(path: str) -> None:
    events = _need("flowkit").Sample(path).get_events(source="raw")
    float(events.sum())


def column_cytogate(path: str) -> None:
    float(read_fcs(path).column("FL3-A").sum())


def column_fromfile(path: str) -> None:
    begin, n_par = _data_segment(path)
    events = np.fromfile(path, dtype="<f4", offset=begin).reshape(-1, n_par)
    float(events[:, 6].sum())


CASES = [
    Case("parse", "cytogate", "parse_cytogate"),
    Case("parse", "np.fromfile", "parse_fromfile"),
    Case("parse", "fcsparser", "parse_fcsparser", setup="load_oracles"),
    Case("parse", "FlowIO", "parse_flowio", setup="load_oracles"),
    Case("parse", "FlowKit", "parse_flowkit", setup="load_oracles"),
    Case("one column", "cytogate", "column_cytogate"),
    Case("one column", "np.fromfile", "column_fromfile"),
]

TARGETS = [("parse", "cytogate", "np.fromfile", 0.8)]
