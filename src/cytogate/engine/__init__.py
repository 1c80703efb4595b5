"""The engine: strategy + sample -> memberships, counts and fits.

- :mod:`.compile`: a strategy compiled against one channel layout (:class:`Plan`,
  cached) and the event-source protocol :class:`SampleLike`;
- :mod:`.execute`: one run of a plan on a sample or a block of it
  (:class:`Execution`; ``brute_force=True`` is the oracle);
- :mod:`.stream`: :func:`gate`, which streams a sample through the plan block
  by block, fitting data-driven gates first from passes over the blocks;
- :mod:`.result`: :class:`GatingResult` and the count table's columns.

No file or network I/O happens here: callers read samples and write outputs.
"""

from __future__ import annotations

from ..lazy import lazy_attributes

# public name -> module; imported on first use
_LAZY = {
    "MONOTONE_KINDS": ".compile", "Plan": ".compile", "SampleLike": ".compile", "compile_plan": ".compile",
    "Execution": ".execute", "brute_force_masks": ".execute", "fit_static": ".execute",
    "population_errors": ".execute",
    "BLOCK_EVENTS": ".stream", "gate": ".stream",
    "COUNT_COLUMNS": ".result", "COUNT_DTYPES": ".result", "GatingResult": ".result",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
