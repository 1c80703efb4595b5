"""A small two-panel study on disk (no corpus needed): FCS files, a sheet, two strategies, the study file."""

from __future__ import annotations

from pathlib import Path

from batch_helpers import write_sample, write_strategy


def make_study(folder: Path, *, per_panel: int = 3, n: int = 3000, extra: str = "",
               rows: list[str] | None = None) -> Path:
    """``folder/study.yaml`` with panels A (T cells from FL1 500) and B (from FL1 300)."""
    (folder / "fcs").mkdir(parents=True, exist_ok=True)
    (folder / "strategies").mkdir(exist_ok=True)
    write_strategy(folder / "strategies", t_min=500.0, name="a.xml")
    write_strategy(folder / "strategies", t_min=300.0, name="b.xml")
    lines = ["file,sample,subject,visit,tube"]
    seed = 0
    for subject in range(per_panel):
        for panel in ("A", "B"):
            name = f"P{subject:02d}_{panel}"
            write_sample(folder / "fcs" / f"{name}.fcs", n=n, seed=seed)
            seed += 1
            lines.append(f"fcs/{name}.fcs,{name},P{subject:02d},Baseline,{panel}")
    (folder / "samples.csv").write_text("\n".join(rows if rows is not None else lines) + "\n")
    study = folder / "study.yaml"
    study.write_text("cytogate_study: 1\nname: two tubes\nsamples: samples.csv\npanel_column: tube\n"
                     "panels:\n  A: strategies/a.xml\n  B: strategies/b.xml\n" + extra)
    return study
