"""Shared set-up of the report tests: a small run folder made from the project's sample_fcs/."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_FCS = ROOT / "sample_fcs"
STRATEGY = ROOT / "gating_strategies" / "lupus_pd.yaml"


def make_run(out: Path, *, change: bool = True) -> Path:
    """Gate sample_fcs/ into ``out`` (one process, no progress bar); optionally add ``out/change``."""
    from cytogate.batch import BatchOptions, run_batch

    run_batch(STRATEGY, [], out, samples=SAMPLE_FCS / "samples.csv",
              options=BatchOptions(workers=1, progress=False, stats=False))
    if change:
        from cytogate.longitudinal import ChangeSettings, run_change_analysis

        settings = ChangeSettings(subject="subject", arm="arm", visit="visit", value="count", control="Placebo",
                                  baseline="Baseline", by=("name",), model="ancova",
                                  where={"name": ("B cells", "Tregs")}, formats=("png",))
        run_change_analysis(out / "counts.parquet", settings, out_dir=out / "change")
    return out


_SHARED: dict[str, Path] = {}


def shared_run() -> Path:
    """One run folder (with a change analysis) per test process, shared by the report test modules.

    Tests must not modify it; it is removed when the process exits.
    """
    if "run" not in _SHARED:
        import atexit
        import shutil
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="cytogate-report-tests-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _SHARED["run"] = make_run(root / "run")
    return _SHARED["run"]
