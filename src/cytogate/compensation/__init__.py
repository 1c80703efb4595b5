"""Compensation: the one home of spillover matrices, their inverse and unmixing.

- :mod:`.matrix`: :class:`Spillover` (square, from a file's keywords or a
  CSV/TSV/FlowJo matrix file) and :class:`SpectrumMatrix` (a strategy's
  Gating-ML ``spectrumMatrix`` or YAML ``spillover:``), one checked inverse;
- :mod:`.keywords`: matrices stored in FCS keywords (``$SPILLOVER``, ``SPILL``,
  ``$COMP``, ``$DFCiTOj``);
- :mod:`.files`: matrices from text files;
- :mod:`.unmix`: matching detectors to a file's channels (through
  :mod:`cytogate.channels`) and computing compensated columns.

The engine, the statistics, the report, the FCS reader and writer and the
strategy readers all use these; nothing else inverts a matrix.
"""

from __future__ import annotations

from ..lazy import lazy_attributes

# public name -> module; imported on first use so that reading a file's metadata
# (which builds a Spillover) does not load numba with the unmixing kernels
_LAZY = {
    "spillover_from_file": ".files", "spillover_from_text": ".files",
    "spillover_from_keywords": ".keywords",
    "MAX_CONDITION": ".matrix", "SpectrumMatrix": ".matrix", "Spillover": ".matrix", "checked_inverse": ".matrix",
    "Compensator": ".unmix", "compensate": ".unmix", "match_channels": ".unmix", "spillover_from_array": ".unmix",
    "WeightedSums": ".unmix", "weighted_sums": ".unmix",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
