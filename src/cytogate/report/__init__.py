"""Figures and the self-contained HTML report of a run.

* :mod:`.gateplot` — one population's gate on its parent's events;
* :mod:`.overview` — a hierarchy overview per sample (one panel per gate);
* :mod:`.drift` — where a data-driven gate landed on each file, overlaid;
* :mod:`.outliers` — samples whose population frequencies are far from the batch;
* :mod:`.html` — the HTML page (provenance, tables, plots, QC, outliers, change);
* :mod:`.build` — :func:`build_report`, from a run folder to the HTML file.

Names are imported lazily: matplotlib loads only when a figure is drawn.
"""

from __future__ import annotations

from ..lazy import lazy_attributes

__all__ = ["build_report", "GateView", "gate_view", "draw_view", "plot_gate", "plot_hierarchy", "plot_drift",
           "robust_outliers"]

_LAZY = {
    "build_report": ".build", "GateView": ".gateplot", "gate_view": ".gateplot", "draw_view": ".gateplot",
    "plot_gate": ".gateplot", "plot_hierarchy": ".overview", "plot_drift": ".drift", "robust_outliers": ".outliers",
}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
