"""The benchmark harness runs end to end (`run.py --quick --only parse`); no timing assertions."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT


def test_run_quick_parse(tmp_path):
    out = tmp_path / "results"
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "parse",
        "--tools", "cytogate", "np.fromfile", "FlowIO",
        "--data-dir", str(tmp_path / "data"), "--out", str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "### parse (parse), 100,000 events" in proc.stdout
    report = json.loads((out / "latest.json").read_text())
    assert report["schema"] == 1 and report["meta"]["sizes"] == [100_000]
    rows = {(r["operation"], r["tool"]): r for r in report["results"]}
    for key in (("parse", "cytogate"), ("parse", "np.fromfile"), ("parse", "FlowIO"), ("one column", "cytogate")):
        assert rows[key]["error"] is None, rows[key]
        assert rows[key]["median_s"] > 0 and rows[key]["peak_mb"] > 0
    assert [t["reference"] for t in report["targets"]] == ["np.fromfile"]
    assert (out / "latest.md").read_text().startswith("# cytogate benchmarks")
    assert (tmp_path / "data" / "bench_100000x20.fcs").stat().st_size > 8_000_000
