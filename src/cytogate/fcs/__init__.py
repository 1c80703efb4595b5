"""FCS files: read every version (2.0-3.2, lazily, memory-mapped) and write FCS 3.1.

Public API: :func:`read_fcs`, :func:`read_metadata`, :func:`write_fcs`, :func:`describe`,
:class:`Sample`.
Modules: ``header`` (58-byte HEADER), ``text`` (keywords), ``decode`` (DATA
layout and decoding), ``layout`` (which DATA offsets to trust), ``scaling``
(scale values), (spillover matrices in keywords are read by :mod:`cytogate.compensation`),
``sample`` (the Sample), ``reader`` and ``writer``.
"""

from __future__ import annotations

from .summary import describe
from .reader import read_fcs, read_metadata
from .sample import Sample
from .writer import write_fcs

__all__ = ["read_fcs", "read_metadata", "write_fcs", "describe", "Sample"]
