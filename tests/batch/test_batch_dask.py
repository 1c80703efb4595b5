"""The Dask path against a real scheduler and two worker processes on loopback."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from batch_helpers import make_inputs, write_strategy

from cytogate.batch import BatchOptions, run_batch
from cytogate.cli import main

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=40) as local:
        yield local


def test_dask_run_equals_local_run(tmp_path, cluster):
    strategy = write_strategy(tmp_path)
    make_inputs(tmp_path / "fcs", count=5, n=4000)
    (tmp_path / "fcs" / "broken.fcs").write_bytes(b"not an FCS file at all")
    local = run_batch(strategy, [str(tmp_path / "fcs")], tmp_path / "local",
                      options=BatchOptions(workers=1, progress=False))
    code = main(["-q", "run", str(strategy), str(tmp_path / "fcs"), "--out", str(tmp_path / "dask"),
                 "--scheduler", cluster.scheduler_address, "--membership"])
    assert code == 3 and local.exit_code == 3
    for name in ("counts.csv", "counts.parquet", "stats.parquet", "failures.csv"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert manifest["runner"].startswith("dask tcp://127.0.0.1:")
    membership = pd.read_parquet(tmp_path / "dask" / "membership" / "s03.parquet")
    assert len(membership) == 4000 and membership["/Cells"].dtype == bool
    # resumed on the cluster: everything reused
    again = run_batch(strategy, [str(tmp_path / "fcs")], tmp_path / "dask",
                      options=BatchOptions(scheduler=cluster.scheduler_address, membership=True, progress=False))
    assert {e["sample"] for e in again.manifest["inputs"] if e.get("reused")} == {f"s0{i}" for i in range(5)}


def test_unreachable_scheduler_is_a_clear_error(tmp_path, capsys):
    strategy = write_strategy(tmp_path)
    make_inputs(tmp_path / "fcs", count=1, n=500)
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        code = main(["-q", "run", str(strategy), str(tmp_path / "fcs"), "--out", str(tmp_path / "o"),
                     "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 4  # the environment (a service down), not the input
    err = capsys.readouterr().err
    assert "cannot reach Dask scheduler tcp://127.0.0.1:9" in err and err.count("\n") == 1
