"""Start-up order of a batch run: workers gate before pandas has loaded anywhere."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).parent


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=HERE, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_driver_and_worker_import_without_pandas():
    # pandas takes ~0.3 s to import; the driver forks its workers first and loads it meanwhile
    out = _run("""
        import sys
        import cytogate.cli.run
        from cytogate.batch import AbsoluteOptions, BatchOptions, QcSpec, run_batch
        import cytogate.batch.driver, cytogate.batch.local, cytogate.batch.worker, cytogate.engine
        print("pandas" in sys.modules)
    """)
    assert out == "False"


def test_a_counts_only_sample_is_processed_without_pandas(tmp_path):
    out = _run(f"""
        import sys
        from pathlib import Path
        from batch_helpers import make_inputs, write_strategy
        from cytogate import load_strategy
        from cytogate.batch.worker import RunConfig, SampleTask, process_sample
        folder = Path({str(tmp_path)!r})
        path = make_inputs(folder, count=1, n=3000)[0]
        assert "pandas" not in sys.modules
        outcome = process_sample(SampleTask(0, "s", str(path)),
                                 RunConfig(load_strategy(write_strategy(folder)), stats=False))
        print(outcome.ok, "pandas" in sys.modules)
        record = outcome.record  # the driver's view: tables
        print(record.counts["count"].dtype, int(record.counts["count"].iloc[0]) > 0)
    """)
    assert out.splitlines() == ["True False", "int64 True"]


_RUN_AND_PROBE = """
import sys
from cytogate.cli import main
args = ["-q", "run", {strategy!r}, {data!r}, "--out", {out!r}, "--no-progress", "--workers", "2"]
if {console}:
    sys.argv = ["cytogate", *args]
    code = main()
else:
    code = main(args)
import numba.np.arraymath
print(code, numba.np.arraymath._HAVE_BLAS)
"""


def test_console_run_loads_numba_without_the_blas_probe_and_gates_alike(tmp_path):
    # the console's own process skips numba's scipy.linalg probe (0.2 s of start-up); adaptive
    # gates, which use scipy afterwards, still work, and the counts are those of a library call
    import pandas as pd

    root = HERE.parents[1]
    strategy = str(root / "gating_strategies" / "lupus_pd.yaml")
    data = str(root / "sample_fcs" / "S001_BL.fcs")
    console = _run(_RUN_AND_PROBE.format(strategy=strategy, data=data, out=str(tmp_path / "console"), console=True))
    library = _run(_RUN_AND_PROBE.format(strategy=strategy, data=data, out=str(tmp_path / "library"), console=False))
    assert console.splitlines()[-1] == "0 False"  # no BLAS registry for numba in the console's process
    assert library.splitlines()[-1] == "0 True"  # a library caller's numba is left whole
    a, b = (pd.read_csv(tmp_path / name / "counts.csv") for name in ("console", "library"))
    assert a.drop(columns="file").equals(b.drop(columns="file"))
