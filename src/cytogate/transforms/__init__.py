"""Transforms from FCS scale values to display scales, forward and inverse.

Every transform is a frozen dataclass registered under its Gating-ML kind in
:data:`REGISTRY`; :func:`from_params` builds one from a kind and parameters.

==============  ================================  ===============================
kind            class                             parameters
==============  ================================  ===============================
``flin``        :class:`LinearTransform`          ``t, a``
``flog``        :class:`LogTransform`             ``t, m``
``fasinh``      :class:`AsinhTransform`           ``t, m, a``
``logicle``     :class:`LogicleTransform`         ``t, w, m, a``
``hyperlog``    :class:`HyperlogTransform`        ``t, w, m, a``
``flowjo_biex`` :class:`FlowJoBiexTransform`      ``width, negative, positive,
                                                  max_value, channel_range``
``flowjo_log``  :class:`FlowJoLogTransform`       ``offset, decades``
==============  ================================  ===============================
"""

from __future__ import annotations

from .asinh import AsinhTransform
from .base import REGISTRY, Transform, from_params, register
from .flowjo import FlowJoBiexTransform, FlowJoLogTransform
from .hyperlog import HyperlogTransform
from .linear import LinearTransform
from .log import LogTransform
from .logicle import LogicleTransform

__all__ = [
    "REGISTRY",
    "Transform",
    "from_params",
    "register",
    "LinearTransform",
    "LogTransform",
    "AsinhTransform",
    "LogicleTransform",
    "HyperlogTransform",
    "FlowJoBiexTransform",
    "FlowJoLogTransform",
]
