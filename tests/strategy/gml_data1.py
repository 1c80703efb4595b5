"""Shared helpers for the Gating-ML compliance tests (not a test module).

``data1_sample()`` returns data1.fcs as a cytogate sample: through
``cytogate.read_fcs`` when the FCS reader is available, else a minimal stand-in
built from FlowIO's preprocessed truth array (same scale values).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conftest import corpus_path

GATE_REF = "whitews+FlowKit/data/gate_ref"
DATA1_CHANNELS = ("FSC-H", "SSC-H", "FL1-H", "FL2-H", "FL3-H", "FL2-A", "FL4-H", "Time")
DATA1_MARKERS = ("FSC-Height", "SSC-Height", "CD4 FITC", "CD8 B PE", "CD3 PerCP", "", "CD8 APC",
                 "Time (102.40 sec.)")


@dataclass
class StandInSample:
    """The attributes of cytogate.fcs.Sample the engine uses."""

    events: np.ndarray
    channels: tuple[str, ...]
    markers: tuple[str, ...]
    spillover: object = None
    name: str = "sample"
    path: str | None = None

    @property
    def n_events(self) -> int:
        return int(self.events.shape[0])

    def column(self, key):
        index = key if isinstance(key, int) else self.channels.index(key)
        return self.events[:, index]


def data1_sample():
    path = corpus_path(f"{GATE_REF}/data1.fcs")
    try:
        from cytogate.fcs import read_fcs
    except ImportError:
        events = np.load(corpus_path("whitews+FlowIO/data/truth/data1_preprocessed.npy"))
        return StandInSample(events, DATA1_CHANNELS, DATA1_MARKERS, None, "data1", str(path))
    return read_fcs(path)


def truth_table() -> list[dict[str, str]]:
    with open(corpus_path("truth/gatingml2_compliance_data1_counts.csv"), newline="") as fh:
        return list(csv.DictReader(fh))


def truth_vector(truth_file: str) -> np.ndarray:
    path = corpus_path(f"{GATE_REF}/truth/{truth_file}")
    values = np.array([int(v) for v in Path(path).read_text().split()], dtype=np.int8)
    return values.astype(bool)


def gml_path(name: str) -> Path:
    return corpus_path(f"{GATE_REF}/gml/{name}")
