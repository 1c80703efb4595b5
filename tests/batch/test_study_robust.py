"""A study run survives kills: of the whole command, of a Dask worker, and files vanishing under it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from study_helpers import make_study

from cytogate.batch import BatchOptions, run_batch
from cytogate.batch.worker import Backend, _read

TABLES = ("counts.csv", "counts.parquet", "stats.parquet", "failures.csv")


def _command(study: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "cytogate", "run", str(study), "--out", str(out), "--workers", "2",
            "--no-progress"]


def _finished(out: Path) -> int:
    cache = out / ".cytogate" / "samples"
    return len(list(cache.glob("*.json"))) if cache.exists() else 0


def _kill_after(study: Path, out: Path, done: int, env: dict[str, str]) -> bool:
    """Start the run; SIGKILL it (driver, then its workers) once ``done`` samples are committed.

    Returns whether it was killed (False: it finished first).
    """
    proc = subprocess.Popen(_command(study, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    while proc.poll() is None and _finished(out) < done:
        time.sleep(0.005)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # orphaned pool workers of that run
    except ProcessLookupError:
        pass
    return killed


def test_study_killed_at_several_points_then_rerun_equals_uninterrupted(tmp_path):
    study = make_study(tmp_path, per_panel=5, n=20000)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    clean = subprocess.run(_command(study, tmp_path / "clean"), capture_output=True, text=True, env=env)
    assert clean.returncode == 0, clean.stderr
    out = tmp_path / "killed"
    kills = [_kill_after(study, out, done, env) for done in (1, 4, 7)]
    assert any(kills), "every run finished before its kill point"
    final = subprocess.run(_command(study, out), capture_output=True, text=True, env=env)
    assert final.returncode == 0, final.stderr
    for name in TABLES:
        assert (out / name).read_bytes() == (tmp_path / "clean" / name).read_bytes(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["ok"] == 10 and manifest["totals"]["reused"] >= 1
    assert not list(out.rglob("*.tmp-*"))


def test_files_vanishing_after_the_sheet_is_read_are_failure_rows(tmp_path):
    study = make_study(tmp_path)
    gone = tmp_path / "fcs" / "P02_A.fcs"

    def read_and_remove(path):  # the first file read takes another one away, as a cleanup job might
        if gone.exists():
            gone.unlink()
        return _read(path)

    result = run_batch(study, [], tmp_path / "out", options=BatchOptions(workers=1, progress=False),
                       backend=Backend(read=read_and_remove))
    assert result.exit_code == 3
    failures = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert list(failures["sample"]) == ["P02_A"] and list(failures["stage"]) == ["read"]
    counts = pd.read_csv(tmp_path / "out" / "counts.csv")
    assert "P02_A" not in set(counts["sample"]) and counts["sample"].nunique() == 5
    entry = next(e for e in result.manifest["inputs"] if e["sample"] == "P02_A")
    assert entry["status"] == "failed" and entry["panel"] == "A"
    # the file is back: the rerun gates it and reuses the rest
    from batch_helpers import write_sample

    write_sample(gone, n=3000, seed=4)
    again = run_batch(study, [], tmp_path / "out", options=BatchOptions(workers=1, progress=False))
    assert again.exit_code == 0 and again.summary.cached == 5


distributed = pytest.importorskip("distributed")


def _processing(dask_scheduler, address):
    """(Runs on the scheduler.) How many tasks the worker at ``address`` has in flight."""
    worker = dask_scheduler.workers.get(address)
    return 0 if worker is None else len(worker.processing)


def test_dask_worker_killed_mid_run_completes_with_identical_counts(tmp_path):
    study = make_study(tmp_path, per_panel=6, n=120000)  # samples long enough that a worker is rarely idle
    local = run_batch(study, [], tmp_path / "local", options=BatchOptions(workers=1, progress=False))
    assert local.exit_code == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=50) as cluster, \
            distributed.Client(cluster) as client:
        address, pid = next(iter(client.run(os.getpid).items()))
        out = tmp_path / "dask"
        killed: list[int] = []

        def kill_one_worker():
            while _finished(out) < 2:
                time.sleep(0.005)
            deadline = time.monotonic() + 30
            # only while it has a task in flight, or there would be nothing to run again
            while time.monotonic() < deadline and not client.run_on_scheduler(_processing, address=address):
                time.sleep(0.001)
            os.kill(pid, signal.SIGKILL)  # the nanny starts a new worker; its tasks run again
            killed.append(pid)

        killer = threading.Thread(target=kill_one_worker, daemon=True)
        killer.start()
        result = run_batch(study, [], out, options=BatchOptions(scheduler=cluster.scheduler_address,
                                                                progress=False))
        killer.join(timeout=60)
        # the same study again on the same scheduler, nothing lost: the first run's lost worker is not this one's
        again = run_batch(study, [], tmp_path / "again", options=BatchOptions(scheduler=cluster.scheduler_address,
                                                                              progress=False))
    assert again.exit_code == 0 and json.loads((tmp_path / "again" / "manifest.json").read_text())["retried"] == []
    assert killed and result.exit_code == 0
    for name in ("counts.csv", "counts.parquet", "stats.parquet", "failures.csv"):
        assert (out / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["retried"], "the tasks on the lost worker were run again but not reported"
    assert {e["sample"] for e in manifest["inputs"] if e.get("retried")} == set(manifest["retried"])


def test_result_lost_with_its_worker_before_it_was_gathered_counts_as_retried():
    """A task that finished on a worker, whose result died with it, runs again: it is retried too."""
    from cytogate.batch.dask_runner import _retried

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=50) as cluster, \
            distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        address = next(iter(pids))
        done = client.submit(sum, [1, 2], key="finished-there", workers=[address],
                             allow_other_workers=True, pure=False)
        other = client.submit(sum, [3, 4], key="elsewhere", workers=[a for a in pids if a != address],
                              allow_other_workers=True, pure=False)
        distributed.wait([done, other])
        assert _retried(client, [done.key, other.key]) == set()
        os.kill(pids[address], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and address in client.scheduler_info()["workers"]:
            time.sleep(0.05)
        assert _retried(client, [done.key, other.key]) == {done.key}
        assert done.result() == 3  # computed again elsewhere


def _gate_or_die(strategy, sample, *, digest=None):
    """The real engine, except that gating ``P01_B`` kills its process (as the OOM killer would)."""
    from cytogate.batch.worker import _gate

    if Path(str(getattr(sample, "path", "") or "")).stem == "P01_B":
        os.kill(os.getpid(), signal.SIGKILL)
    return _gate(strategy, sample, digest=digest)


def test_local_pool_worker_death_is_listed_as_retried(tmp_path):
    study = make_study(tmp_path)
    result = run_batch(study, [], tmp_path / "out", options=BatchOptions(workers=2, progress=False, stats=False),
                       backend=Backend(gate=_gate_or_die))
    assert result.exit_code == 3
    failures = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert list(failures["sample"]) == ["P01_B"] and list(failures["stage"]) == ["worker"]
    # the culprit and whatever was in flight beside it ran again, alone
    assert "P01_B" in result.manifest["retried"]
    assert {e["sample"] for e in result.manifest["inputs"] if e.get("retried")} == set(result.manifest["retried"])
