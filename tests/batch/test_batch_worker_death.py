"""A file that kills its worker process becomes one row of failures.csv; the rest of the batch finishes."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from batch_helpers import make_inputs, write_strategy  # noqa: E402

from cytogate.batch.driver import BatchOptions, run_batch  # noqa: E402
from cytogate.batch.worker import Backend, _gate  # noqa: E402


def gate_or_die(strategy, sample, *, digest=None):
    """The real engine, except that gating ``s02`` kills the process (as the OOM killer would)."""
    if Path(str(getattr(sample, "path", "") or "")).stem == "s02":
        os.kill(os.getpid(), signal.SIGKILL)
    return _gate(strategy, sample, digest=digest)


@pytest.mark.parametrize("workers", [2])
def test_a_file_that_kills_its_worker_fails_alone(tmp_path, workers):
    files = make_inputs(tmp_path / "in", count=6, n=2000)
    strategy = write_strategy(tmp_path)
    result = run_batch(strategy, [str(tmp_path / "in")], tmp_path / "out",
                       options=BatchOptions(workers=workers, progress=False, stats=False),
                       backend=Backend(gate=gate_or_die))
    assert result.exit_code == 3
    failures = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert list(failures["sample"]) == ["s02"] and list(failures["stage"]) == ["worker"]
    assert "worker process died" in failures["reason"][0]
    counts = pd.read_csv(tmp_path / "out" / "counts.csv")
    assert sorted(counts["sample"].unique()) == sorted(p.stem for p in files if p.stem != "s02")
