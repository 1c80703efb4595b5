"""The whole pipeline in under a minute: :func:`run_demo` (``cytogate demo``).

1. synthesise a small lupus trial with known truth (:func:`cytogate.synth.trial.synthesize_trial`):
   four arms (placebo, 0.15, 0.3, 0.45 mg) x ``subjects_per_arm`` subjects x four visits;
2. gate every file with ``gating_strategies/lupus_pd.yaml`` (:func:`cytogate.batch.run_batch`,
   both cores, progress bar);
3. change from baseline versus placebo for B cells, CD268+ B cells, pDCs and Tregs
   (:func:`cytogate.longitudinal.run_change_analysis`, ANCOVA on log counts);
4. the HTML report (:func:`cytogate.report.build_report`) and a few standalone figures.

Everything goes under one folder; :class:`DemoResult` says where.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BatchError

__all__ = ["DemoResult", "run_demo", "find_strategy", "DEMO_POPULATIONS"]

log = logging.getLogger(__name__)

#: Populations whose change from baseline the demo analyses (the trial's reported endpoints).
DEMO_POPULATIONS = ("B cells", "CD268+ B", "pDC", "Tregs")
_STRATEGY = "lupus_pd.yaml"


@dataclass(frozen=True)
class DemoResult:
    """Where the demo put things, and how long each step took (seconds)."""

    out: Path
    trial: Path
    run: Path
    change: Path
    report: Path
    figures: tuple[Path, ...]
    seconds: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """Human-readable summary of the outputs."""
        size = self.report.stat().st_size / 1e6 if self.report.is_file() else float("nan")
        lines = [
            f"synthetic trial (FCS, samples.csv, truth.csv): {self.trial}",
            f"cell counts (counts.csv, counts.parquet, stats.parquet, manifest.json): {self.run}",
            f"change from baseline vs placebo (contrasts.csv, summary.csv, figures/): {self.change}",
            f"HTML report ({size:.1f} MB, open it in a browser): {self.report}",
            *(f"figure: {p}" for p in self.figures),
            "timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()),
        ]
        return "\n".join(lines)


def find_strategy(name: str = _STRATEGY) -> Path:
    """The ready-made strategy ``<name>`` shipped in ``cytogate/gating_strategies``.

    ``CYTOGATE_STRATEGIES`` names another folder to look in first.

    Raises
    ------
    BatchError
        Not found.
    """
    env = os.environ.get("CYTOGATE_STRATEGIES")
    candidates = [Path(env) / name] if env else []
    candidates.append(Path(__file__).resolve().parent / "gating_strategies" / name)  # package data
    for path in candidates:
        if path.is_file():
            return path
    raise BatchError(f"ready-made strategy {name} not found (looked in {', '.join(str(c.parent) for c in candidates)});"
                     " set CYTOGATE_STRATEGIES to the gating_strategies folder")


def run_demo(out: str | os.PathLike[str] = "demo_output", *, subjects_per_arm: int = 4, n_events: int = 20_000,
             seed: int = 7, workers: int | None = None, progress: bool | None = None,
             max_samples_with_plots: int = 6) -> DemoResult:
    """Synthesise a trial, gate it, compare change from baseline with placebo, and write the report.

    Parameters
    ----------
    out : path
        Output folder (created; an earlier demo's outputs are replaced).
    subjects_per_arm : int
        Subjects in each of the four arms (four visits each).
    n_events : int
        Events per FCS file.
    seed : int
        Seed of the synthetic trial.
    workers : int, optional
        Processes for gating and drawing (default: CPUs).
    progress : bool, optional
        Progress bar while gating (None: when stderr is a terminal).
    max_samples_with_plots : int
        Samples whose gates the report draws.

    Returns
    -------
    DemoResult
    """
    from .batch import BatchOptions, run_batch
    from .longitudinal import ChangeSettings, LloqRule, run_change_analysis
    from .report.build import build_report
    from .synth.trial import DEFAULT_ARMS, synthesize_trial

    root = Path(out)
    trial_dir, run_dir = root / "trial", root / "run"
    change_dir, fig_dir = run_dir / "change", root / "figures"
    seconds: dict[str, float] = {}
    strategy = find_strategy()

    clock = time.perf_counter()
    log.info("1/4 synthesising %d subjects x 4 visits (%d events per file) in %s",
             4 * subjects_per_arm, n_events, trial_dir)
    synthesize_trial(trial_dir, arms={arm: subjects_per_arm for arm in DEFAULT_ARMS}, n_events=n_events, seed=seed)
    seconds["synthesise"] = time.perf_counter() - clock

    clock = time.perf_counter()
    log.info("2/4 gating with %s", strategy)
    result = run_batch(strategy, [], run_dir, samples=trial_dir / "samples.csv",
                       options=BatchOptions(workers=workers, progress=progress, force=True))
    seconds["gate"] = time.perf_counter() - clock
    log.info("%s", result.summary.line())

    clock = time.perf_counter()
    log.info("3/4 change from baseline vs placebo (%s)", ", ".join(DEMO_POPULATIONS))
    settings = ChangeSettings(subject="subject", arm="arm", visit="visit", value="count", control="Placebo",
                              baseline="Baseline", day="day", by=("name",), model="ancova", scale="log",
                              where={"name": DEMO_POPULATIONS}, forest_visit="Week 24", formats=("png",),
                              lloq=LloqRule(1.0, "half"))  # a count of 0 enters the log model as 0.5
    run_change_analysis(run_dir / "counts.parquet", settings, out_dir=change_dir)
    seconds["change"] = time.perf_counter() - clock

    clock = time.perf_counter()
    log.info("4/4 report and figures")
    report = build_report(run_dir, max_samples_with_plots=max_samples_with_plots, max_files_for_drift=32,
                          workers=workers)
    figures = _figures(strategy, trial_dir, fig_dir)
    seconds["report"] = time.perf_counter() - clock
    return DemoResult(root, trial_dir, run_dir, change_dir, report, figures, seconds)


def _figures(strategy_path: Path, trial_dir: Path, fig_dir: Path) -> tuple[Path, ...]:
    """A gate plot and a hierarchy overview of the first week-24 sample on the top dose."""
    import pandas as pd

    from .engine.stream import gate
    from .fcs import read_fcs
    from .report.gateplot import plot_gate
    from .report.overview import plot_hierarchy
    from .strategy import load_strategy

    sheet = pd.read_csv(trial_dir / "samples.csv")
    pick = sheet[(sheet["arm"] == "0.45 mg") & (sheet["visit"] == "Baseline")]
    row = (pick if len(pick) else sheet).iloc[0]
    sample = read_fcs(trial_dir / str(row["file"]))
    result = gate(load_strategy(strategy_path), sample)
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    b_cells = next((p for p in result.strategy.paths if p.endswith("/B cells")), result.strategy.paths[0])
    gate_png = fig_dir / "gate_plot.png"
    plot_gate(result, sample, b_cells).savefig(gate_png, dpi=130)
    paths.append(gate_png)
    overview_png = fig_dir / "hierarchy.png"
    plot_hierarchy(result, sample).savefig(overview_png, dpi=72)
    paths.append(overview_png)
    return tuple(paths)
