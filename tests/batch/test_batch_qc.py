"""Acquisition QC: a clog (flow-rate drop) and a signal shift are found; flag vs remove."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from batch_helpers import CHANNELS, MARKERS, make_events, write_strategy

from cytogate.batch import BatchOptions, QcSpec, acquisition_qc, run_batch
from cytogate.errors import StrategyError


def _acquisition(n=40000, seed=3, clog=(40.0, 50.0), shift=(70.0, 75.0)):
    """Time 0-100 at a steady rate, no events during ``clog``, FL2 x3 during ``shift``."""
    events = make_events(n, seed).astype(np.float64)
    rng = np.random.default_rng(seed)
    time = np.sort(rng.uniform(0, 100, n * 2))
    time = time[(time < clog[0]) | (time >= clog[1])]
    time = np.sort(rng.choice(time, size=n, replace=False))
    events = events[: time.size]
    events[:, 4] = time
    in_shift = (time >= shift[0]) & (time < shift[1])
    events[in_shift, 3] *= 3.0
    return events, in_shift


def test_steady_acquisition_is_clean():
    events = make_events(40000, 5).astype(np.float64)
    events[:, 4] = np.sort(np.random.default_rng(5).uniform(0, 100, 40000))
    keep, report = acquisition_qc(events, CHANNELS, QcSpec(mode="remove"))
    assert report["checked"] and keep.all() and report["segments"] == []


def test_clog_and_shift_found_and_removed():
    events, in_shift = _acquisition()
    keep, report = acquisition_qc(events, CHANNELS, QcSpec(mode="remove"))
    assert report["bad_bins_rate"] >= 1 and report["bad_bins_signal"] >= 1
    starts = [s[0] for s in report["segments"]]
    assert any(35 <= s <= 50 for s in starts) and any(65 <= s <= 75 for s in starts)
    assert not keep[in_shift].any()  # every shifted event removed
    assert keep.mean() > 0.8  # but not the rest of the run
    flag_keep, flag_report = acquisition_qc(events, CHANNELS, QcSpec(mode="flag"))
    assert flag_keep.all() and flag_report["events_flagged"] == report["events_removed"]


def test_no_time_channel_is_reported_not_checked():
    keep, report = acquisition_qc(np.ones((100, 2)), ["A", "B"], QcSpec())
    assert keep.all() and not report["checked"] and report["reason"] == "no Time channel"


def test_spec_validation():
    assert QcSpec.from_mapping("remove").mode == "remove"
    assert QcSpec.from_mapping({"mode": "flag", "k_rate": 3}).k_rate == 3
    with pytest.raises(StrategyError, match="unknown qc settings"):
        QcSpec.from_mapping({"mode": "flag", "bogus": 1})
    with pytest.raises(StrategyError):
        QcSpec(mode="drop")


def test_run_with_qc_removal_changes_the_root(tmp_path):
    from cytogate import write_fcs

    events, in_shift = _acquisition()
    fcs = write_fcs(tmp_path / "clog.fcs", events.astype(np.float32), list(CHANNELS), markers=list(MARKERS))
    strategy = write_strategy(tmp_path)
    run_batch(strategy, [str(fcs)], tmp_path / "out",
              options=BatchOptions(workers=1, progress=False, qc=QcSpec(mode="remove"), membership=True))
    qc = pd.read_csv(tmp_path / "out" / "qc.csv")
    row = qc.iloc[0]
    assert row["checked"] and row["events_removed"] > 0
    assert row["n_events_kept"] == row["n_events"] - row["events_removed"]
    counts = pd.read_csv(tmp_path / "out" / "counts.csv").set_index("population")
    cells = counts.loc["/Cells"]
    assert cells["parent_count"] == row["n_events_kept"]
    membership = pd.read_parquet(tmp_path / "out" / "membership" / "clog.parquet")
    assert len(membership) == row["n_events"]
    assert membership["qc_kept"].sum() == row["n_events_kept"]
    assert not membership.loc[~membership["qc_kept"], "/Cells"].any()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["inputs"][0]["qc"]["events_removed"] == row["events_removed"]


def test_strategy_qc_step_is_used_and_cli_flag_overrides(tmp_path):
    import cytogate
    from cytogate import write_fcs

    events, _ = _acquisition()
    fcs = write_fcs(tmp_path / "clog.fcs", events.astype(np.float32), list(CHANNELS), markers=list(MARKERS))
    yaml_file = tmp_path / "strategy.yaml"
    yaml_file.write_text(
        "cytogate_strategy: 1\n"
        "qc: {mode: remove, k_rate: 5}\n"
        f"populations:\n  Cells: {{range: {{{CHANNELS[0]}: {{min: 200}}}}}}\n"
    )
    strategy = cytogate.load_strategy(yaml_file)
    assert strategy.qc == QcSpec(mode="remove", k_rate=5.0)
    result = run_batch(strategy, [str(fcs)], tmp_path / "out", options=BatchOptions(workers=1, progress=False))
    assert result.manifest["options"]["qc"]["mode"] == "remove"
    assert result.manifest["inputs"][0]["n_events_kept"] < result.manifest["inputs"][0]["n_events"]
    flagged = run_batch(strategy, [str(fcs)], tmp_path / "out2",
                        options=BatchOptions(workers=1, progress=False, qc=QcSpec(mode="flag")))
    entry = flagged.manifest["inputs"][0]
    assert entry["n_events_kept"] == entry["n_events"] and entry["qc"]["events_flagged"] > 0


def test_yaml_qc_step_errors_name_the_line(tmp_path):
    import cytogate

    bad = tmp_path / "bad.yaml"
    bad.write_text("cytogate_strategy: 1\nqc: {mode: remove, k_rat: 5}\npopulations:\n  A: {range: {X: {min: 1}}}\n")
    with pytest.raises(StrategyError, match=r"bad.yaml:2:.*k_rat"):
        cytogate.load_strategy(bad)
