"""Several worker processes with threaded numba kernels: the pool must never fork
a process whose OpenMP runtime has started (GNU OpenMP aborts the child)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cytogate.synth import synthesize_sample
from cytogate.threads import PARALLEL_MIN

ROOT = Path(__file__).resolve().parents[2]
STRATEGY = ROOT / "gating_strategies" / "lupus_pd.yaml"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fork")
    n = 2 * PARALLEL_MIN  # big enough that logicle and compensation take their threaded paths
    paths = [folder / f"s{seed}.fcs" for seed in range(3)]
    for seed, path in enumerate(paths):
        synthesize_sample("lupus_pd", n_events=n, seed=seed).write(path)
    return paths


def _run(files, out, workers, *, warm_threads=False):
    code = [
        "import sys",
        "from cytogate.cli import main",
    ]
    if warm_threads:  # start numba's threading runtime in the parent first, as a notebook user might
        code += [
            "import numpy as np",
            "from cytogate.transforms import LogicleTransform",
            "LogicleTransform(262144, 0.5, 4.5, 0).apply(np.linspace(0, 1e5, 1 << 17))",
        ]
    code.append(f"sys.exit(main({['run', str(STRATEGY), *map(str, files), '--out', str(out), '--workers', str(workers), '--no-progress']!r}))")
    return subprocess.run([sys.executable, "-c", "\n".join(code)], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("warm_threads", [False, True])
def test_two_workers_with_threaded_kernels_match_one_worker(files, tmp_path, warm_threads):
    single = _run(files, tmp_path / "one", 1)
    assert single.returncode == 0, single.stderr
    double = _run(files, tmp_path / "two", 2, warm_threads=warm_threads)
    assert double.returncode == 0, double.stderr
    one = pd.read_csv(tmp_path / "one" / "counts.csv").sort_values(["sample", "population"], ignore_index=True)
    two = pd.read_csv(tmp_path / "two" / "counts.csv").sort_values(["sample", "population"], ignore_index=True)
    assert np.array_equal(one["count"].to_numpy(), two["count"].to_numpy())
    assert len(one) == 3 * one["population"].nunique()


@pytest.mark.parametrize("stats", [True, False])
def test_the_parent_loads_the_statistics_kernels_before_forking_only_when_the_run_has_statistics(files, stats):
    code = "\n".join([
        "import cytogate",
        "from cytogate.batch.local import _warm",
        "from cytogate.batch.worker import RunConfig, SampleTask",
        "from cytogate.batch._class_kernel import class_stats",
        f"config = RunConfig(cytogate.load_strategy({str(STRATEGY)!r}), stats={stats})",
        f"_warm(SampleTask(0, 's', {str(files[0])!r}), config)",
        "print(len(class_stats.signatures))",
    ])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) == (1 if stats else 0)
