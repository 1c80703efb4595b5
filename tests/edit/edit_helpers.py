"""Constants and fixtures shared by the gate editor tests (imported by each test module).

Not a conftest.py: the suite's modules import the top-level ``conftest`` by name, and a
second one here would shadow it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the editor needs the 'edit' extra (pip install 'cytogate[edit]')")
pytest.importorskip("ruamel.yaml", reason="the editor needs the 'edit' extra (pip install 'cytogate[edit]')")

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [ROOT / "sample_fcs" / "S001_BL.fcs", ROOT / "sample_fcs" / "S002_W24.fcs"]

#: A hand-written strategy with every kind of line the editor must keep: comments, a polygon,
#: static and data-driven thresholds, a quadrant and a boolean gate.
EDIT_STRATEGY = """\
cytogate_strategy: 1
name: Editor test   # kept as written
compensation: file
transform: {logicle: {T: 262144, W: 0.5, M: 4.5, A: 0}}
scatter_transform: none

populations:
  # -- scatter: drawn by hand
  Cells:
    polygon: {x: FSC-A, y: SSC-A, vertices: [[20000, 2000], [200000, 2000], [200000, 200000], [20000, 200000]]}
  Leukocytes:
    parent: Cells
    range: {CD45: {min: 0.4}}      # CD45+ (static)
  T cells:
    parent: Leukocytes
    range: {CD3: {min: {density_valley: {bounds: [0.35, 0.58], fallback: 0.45}}}}
  T subsets:
    parent: T cells
    quadrant:
      dividers: {CD4: 0.45, CD8: 0.45}
      populations: {CD4+CD8-: CD4 T, CD4-CD8+: CD8 T}
  Activated:
    parent: CD4 T
    rectangle: {CD25: {min: 0.5}, HLA-DR: {min: 0.5}}
  Not T:
    parent: Leukocytes
    not: T cells
"""


@pytest.fixture
def strategy_file(tmp_path: Path) -> Path:
    path = tmp_path / "edit_test.yaml"
    path.write_text(EDIT_STRATEGY, encoding="utf-8")
    return path


@pytest.fixture
def t_cells_file(tmp_path: Path) -> Path:
    """The ready-made T-cell strategy (and its panel), copied so it can be saved over."""
    for name in ("t_cells.yaml", "markers.yaml"):
        shutil.copy(ROOT / "gating_strategies" / name, tmp_path / name)
    return tmp_path / "t_cells.yaml"


@pytest.fixture
def samples() -> list[Path]:
    for path in SAMPLES:
        if not path.is_file():
            pytest.skip(f"sample file {path} not found")
    return list(SAMPLES)
