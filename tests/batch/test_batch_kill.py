"""SIGKILL at random moments, several times, then resume: the end result equals an uninterrupted run.

While the killed runs are going, and after each kill, every visible output file
must be complete (atomic writes): CSV and JSON parse, Parquet files open.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
from batch_helpers import make_inputs, write_strategy

TABLES = ("counts.csv", "counts.parquet", "stats.parquet", "failures.csv")


def _command(strategy, inputs, out):
    return [sys.executable, "-m", "cytogate", "run", str(strategy), str(inputs), "--out", str(out),
            "--workers", "2", "--membership", "--no-progress"]


def _visible_files_are_complete(out):
    for path in out.rglob("*"):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(out).parts):
            continue
        if path.suffix == ".csv":
            pd.read_csv(path)
        elif path.suffix == ".parquet":
            pd.read_parquet(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
    for path in (out / ".cytogate" / "samples").glob("*.json") if (out / ".cytogate").exists() else ():
        json.loads(path.read_text())


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    strategy = write_strategy(tmp_path)
    make_inputs(tmp_path / "fcs", count=8, n=10000)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    clean = tmp_path / "clean"
    started = time.monotonic()
    done = subprocess.run(_command(strategy, tmp_path / "fcs", clean), capture_output=True, text=True, env=env)
    duration = time.monotonic() - started
    assert done.returncode == 0, done.stderr

    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    out = tmp_path / "killed"
    kills = 0
    cache = out / ".cytogate" / "samples"
    attempt = 0
    while kills < 3 and attempt < 8:
        proc = subprocess.Popen(_command(strategy, tmp_path / "fcs", out), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        deadline = time.monotonic() + rng.uniform(0.2, 0.9) * duration
        if attempt % 2:  # kill while samples are being committed, not only during start-up
            already = len(list(cache.glob("*.json"))) if cache.exists() else 0
            while proc.poll() is None and (len(list(cache.glob("*.json"))) if cache.exists() else 0) <= already:
                time.sleep(0.002)
            deadline = time.monotonic() + rng.uniform(0.0, 0.05)
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists():
                _visible_files_are_complete(out)
            time.sleep(0.02)
        killed = proc.poll() is None
        if killed:
            os.kill(proc.pid, signal.SIGKILL)  # the driver first, as `kill -9` would
            kills += 1
        proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # then any orphaned pool workers of that run
        except ProcessLookupError:
            pass
        if out.exists():
            _visible_files_are_complete(out)
            if not killed and kills == 0:
                # finished before any kill landed (a loaded machine times runs unevenly): every
                # later run would only reuse results, so start again from an empty folder
                shutil.rmtree(out)
        attempt += 1
    assert kills >= 1, f"no run was killed (seed {seed})"

    final = subprocess.run(_command(strategy, tmp_path / "fcs", out), capture_output=True, text=True, env=env)
    assert final.returncode == 0, f"seed {seed}: {final.stderr}"
    for name in TABLES:
        assert (out / name).read_bytes() == (clean / name).read_bytes(), f"{name} differs (seed {seed})"
    for member in sorted((clean / "membership").glob("*.parquet")):
        assert pd.read_parquet(out / "membership" / member.name).equals(pd.read_parquet(member)), member.name
    assert not list(out.rglob("*.tmp-*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["ok"] == 8 and manifest["totals"]["failed"] == 0
