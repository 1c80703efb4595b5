"""Small FCS files and a Gating-ML strategy for the batch tests (no corpus needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CHANNELS = ("FSC-A", "SSC-A", "FL1-A", "FL2-A", "Time")
MARKERS = (None, None, "CD3", "CD19", None)

STRATEGY_XML = """<?xml version="1.0" encoding="UTF-8"?>
<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
    xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
  <gating:RectangleGate gating:id="Cells">
    <gating:dimension gating:compensation-ref="uncompensated" gating:min="200" gating:max="800">
      <data-type:fcs-dimension data-type:name="FSC-A" />
    </gating:dimension>
  </gating:RectangleGate>
  <gating:RectangleGate gating:id="Tcells" gating:parent_id="Cells">
    <gating:dimension gating:compensation-ref="uncompensated" gating:min="{t_min}">
      <data-type:fcs-dimension data-type:name="FL1-A" />
    </gating:dimension>
  </gating:RectangleGate>
  <gating:RectangleGate gating:id="Beads">
    <gating:dimension gating:compensation-ref="uncompensated" gating:min="900">
      <data-type:fcs-dimension data-type:name="FSC-A" />
    </gating:dimension>
  </gating:RectangleGate>
</gating:Gating-ML>
"""


def write_strategy(folder: Path, *, t_min: float = 500.0, name: str = "strategy.xml") -> Path:
    path = folder / name
    path.write_text(STRATEGY_XML.replace("{t_min}", repr(t_min)))
    return path


def make_events(n: int, seed: int) -> np.ndarray:
    """(n, 5) events: 70 % cells (FSC 200-800), 10 % beads (FSC > 900), 20 % debris."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(3, size=n, p=[0.7, 0.1, 0.2])
    fsc = np.where(kind == 0, rng.uniform(220, 780, n), np.where(kind == 1, rng.uniform(920, 990, n),
                                                                 rng.uniform(0, 180, n)))
    ssc = rng.uniform(50, 500, n)
    fl1 = np.where(rng.random(n) < 0.4, rng.normal(800, 80, n), rng.normal(150, 40, n))
    fl2 = rng.lognormal(5, 0.5, n)
    time = np.sort(rng.uniform(0, 100, n))
    return np.column_stack([fsc, ssc, fl1, fl2, time]).astype(np.float32)


def write_sample(path: Path, n: int = 5000, seed: int = 0) -> Path:
    from cytogate import write_fcs

    write_fcs(path, make_events(n, seed), list(CHANNELS), markers=list(MARKERS))
    return path


def make_inputs(folder: Path, count: int = 4, n: int = 5000) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_sample(folder / f"s{i:02d}.fcs", n=n, seed=i) for i in range(count)]
