"""Fixtures of the gate editor tests: a commented strategy copied into a temporary folder, and samples."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the editor needs the 'edit' extra (pip install 'cytogate[edit]')")
pytest.importorskip("ruamel.yaml", reason="the editor needs the 'edit' extra (pip install 'cytogate[edit]')")

from edit_helpers import EDIT_STRATEGY, ROOT, SAMPLES


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
