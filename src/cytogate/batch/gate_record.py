"""Where each population's gate came from on one sample, and the geometry it had there.

A batch run records, per sample, the gate every population was actually
gated with whenever it is not the strategy's own static gate: a data-driven
gate's fit on that file (``fitted``), a static gate moved onto the file by
template following (``followed``) or a reviewer's correction (``override``).
``counts.csv`` carries the source in its ``gate_source`` column, and the run
folder's ``gates.json`` (:data:`GATES_SCHEMA`) keeps the geometry, so a run can
be re-applied or exported (``cytogate export``) exactly as it was counted.

``gates.json``::

    {"schema": 1,
     "samples": {"<sample>": {"<population path>": {"source": "fitted", "gate": {...}}, ...}, ...}}

``gate`` is the gate's plain form (:meth:`GateSpec.to_dict`, static kinds only);
populations absent from a sample's entry were gated with the strategy's gate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from ..atomic import atomic_file

__all__ = ["GATES_FILE", "GATES_SCHEMA", "SOURCES", "gate_sources", "applied_gates", "GatesFileStream",
           "write_gates_file"]

GATES_FILE = "gates.json"
#: Version of ``gates.json``.
GATES_SCHEMA = 1
#: Values of ``counts.csv``'s ``gate_source`` column.
SOURCES = ("template", "fitted", "fallback", "followed", "override", "skipped")

_FIT_RECORD = "fits"  # fit diagnostics the engine attaches to fitted gates: not geometry


def gate_sources(paths: Iterable[str], fitted: Mapping[str, Any], overridden: Iterable[str] = ()) -> list[str]:
    """The ``gate_source`` of each population path, in the order given."""
    overridden = set(overridden)
    return ["override" if p in overridden else "fitted" if p in fitted else "template" for p in paths]


def applied_gates(strategy: Any, fitted: Mapping[str, Mapping[str, Any]],
                  overridden: Iterable[str] = (), followed: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """``{path: {"source", "gate"}}`` for every population not gated with the template's static gate.

    ``strategy`` is the strategy the sample was gated with (overrides already
    applied); ``fitted`` is the engine's ``GatingResult.fitted``; ``followed``
    the paths of the static gates template following moved.
    """
    overridden, followed = set(overridden), set(followed)
    out: dict[str, dict[str, Any]] = {}
    for pop in strategy.populations:
        if pop.path in fitted:
            gate = {k: v for k, v in fitted[pop.path].items() if k != _FIT_RECORD}
            source = "override" if pop.path in overridden else "followed" if pop.path in followed else "fitted"
            out[pop.path] = {"source": source, "gate": gate}
        elif pop.path in overridden:
            out[pop.path] = {"source": "override", "gate": pop.gate.to_dict()}
    return out


class GatesFileStream:
    """``gates.json`` written one sample at a time, byte for byte as :func:`cytogate.atomic.write_json` writes it.

    ``handle`` is a binary file open for writing (:func:`cytogate.atomic.atomic_file`).
    """

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.started = False
        handle.write(f'{{\n "schema": {GATES_SCHEMA},\n "samples": {{'.encode())

    def add(self, sample: str, gates: Mapping[str, Any]) -> None:
        # json.dumps(indent=1) of the whole document nests each sample two levels deep
        value = json.dumps(dict(gates), indent=1, allow_nan=True).replace("\n", "\n  ")
        lead = ",\n  " if self.started else "\n  "
        self.handle.write(f"{lead}{json.dumps(sample)}: {value}".encode())
        self.started = True

    def finish(self) -> None:
        self.handle.write(("\n }\n}\n" if self.started else "}\n}\n").encode())


def write_gates_file(out: Path, records: Iterable[Any]) -> Path:
    """Write ``gates.json`` from the run's sample records (atomic)."""
    with atomic_file(out / GATES_FILE) as handle:
        stream = GatesFileStream(handle)
        for record in records:
            stream.add(record.sample, record.gates)
        stream.finish()
    return out / GATES_FILE
