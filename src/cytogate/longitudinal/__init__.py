"""Longitudinal analysis: change from baseline and comparisons with control.

The mixed model for repeated measures (:func:`fit_mmrm`) reproduces SAS PROC
MIXED; the model formula language is in :mod:`.formula`, covariance structures
in :mod:`.covariance`, LS means and degrees of freedom in :mod:`.lsmeans`.
"""

from __future__ import annotations

from .covariance import STRUCTURES, CovarianceStructure, get_structure
from .formula import DesignInfo, Formula, Term, design_matrix
from .mmrm import MmrmFit, fit_mmrm

__all__ = [
    "STRUCTURES",
    "CovarianceStructure",
    "DesignInfo",
    "Formula",
    "MmrmFit",
    "Term",
    "design_matrix",
    "fit_mmrm",
    "get_structure",
]
from .analysis import ChangeOutputs, ChangeSettings, load_table, run_change_analysis
from .baseline import VisitWindow, assign_visit_windows, derive_baseline
from .change import LloqRule, change_from_baseline
from .compare import adjust_pvalues, ancova, compare_to_control, hodges_lehmann, rank_sum_test
from .subgroups import SubgroupRule, assign_subgroups
from .summary import geometric_mean_ratio, summarize_change

__all__ += [
    "ChangeOutputs", "ChangeSettings", "LloqRule", "SubgroupRule", "VisitWindow", "adjust_pvalues", "ancova",
    "assign_subgroups", "assign_visit_windows", "change_from_baseline", "compare_to_control", "derive_baseline",
    "geometric_mean_ratio", "hodges_lehmann", "load_table", "rank_sum_test", "run_change_analysis", "summarize_change",
]  # fmt: skip
