"""Many files at once: local process pool or Dask cluster, resumable, failures isolated.

``run_batch`` is the entry point (``cytogate run`` calls it); the modules are
one concept each: inputs, sample sheets, atomic outputs, the result cache,
the folder lock, local and Dask runners, intensity statistics, absolute
counts, acquisition QC and progress reporting.
"""

from __future__ import annotations

from .absolute import AbsoluteOptions, absolute_counts
from .driver import MANIFEST_SCHEMA, BatchOptions, BatchResult, plan_tasks, run_batch
from .inputs import InputFile, expand_inputs
from ..qc import QcSpec, acquisition_qc
from .samplesheet import SampleSheet, safe_sample_name
from .stats import intensity_stats
from .worker import Backend

__all__ = [
    "MANIFEST_SCHEMA",
    "AbsoluteOptions",
    "Backend",
    "BatchOptions",
    "BatchResult",
    "InputFile",
    "QcSpec",
    "SampleSheet",
    "absolute_counts",
    "acquisition_qc",
    "expand_inputs",
    "intensity_stats",
    "plan_tasks",
    "run_batch",
    "safe_sample_name",
]
