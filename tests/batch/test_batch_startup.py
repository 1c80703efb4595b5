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
