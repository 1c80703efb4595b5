"""Many files at once: local process pool or Dask cluster, resumable, failures isolated.

``run_batch`` is the entry point (``cytogate run`` calls it); the modules are
one concept each: inputs, sample sheets, atomic outputs, the result cache,
the folder lock, local and Dask runners, intensity statistics, absolute
counts, acquisition QC and progress reporting.
"""

from __future__ import annotations

from ..lazy import lazy_attributes

# public name -> module defining it; imported on first use so that the command
# line can start hashing inputs (batch.prehash) before numpy, numba and pandas load
_LAZY = {
    "AbsoluteOptions": ".absolute", "absolute_counts": ".absolute",
    "MANIFEST_SCHEMA": ".driver", "BatchOptions": ".driver", "BatchResult": ".driver",
    "plan_tasks": ".driver", "run_batch": ".driver",
    "InputFile": ".inputs", "expand_inputs": ".inputs",
    "QcSpec": "..qc", "acquisition_qc": "..qc",
    "SampleSheet": ".samplesheet", "safe_sample_name": ".samplesheet",
    "intensity_stats": ".stats",
    "Backend": ".worker",
}

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


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
