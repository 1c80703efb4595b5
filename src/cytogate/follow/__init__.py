"""Gates that follow each sample: a static template registered onto every file's own data.

``cytogate.gate(strategy, sample, follow=reference)`` and ``cytogate run
--follow REF.fcs`` move every static gate (polygon, rectangle, range,
ellipse, quadrant) onto each sample: on the gate's own axes, inside its
parent, the reference's density is registered onto the sample's and the
geometry moves with the map.  See docs/follow.md.

Needs the ``follow`` extra (SimpleITK and scikit-image); importing this
package does not load them until a gate is registered.
"""

from __future__ import annotations

from typing import Any

from ..channels import MarkerAliases
from ..strategy.tree import Strategy
from .core import FollowedGate, FollowOutcome, Reference, follow_sample
from .records import FIT_COLUMNS, fit_rows, gate_parameters
from ..strategy.follow_settings import SETTING_KEYS, FollowError, FollowSettings, FollowSpec

__all__ = [
    "FIT_COLUMNS",
    "SETTING_KEYS",
    "FollowError",
    "FollowOutcome",
    "FollowSettings",
    "FollowSpec",
    "FollowedGate",
    "Reference",
    "fit_rows",
    "follow_gates",
    "follow_sample",
    "gate_parameters",
    "prepare_reference",
]

_PREPARED: list[tuple[Strategy, Any, Reference]] = []  # the last few references prepared from plain samples


def prepare_reference(strategy: Strategy, sample: Any, *, settings: FollowSettings | None = None,
                      aliases: MarkerAliases | None = None) -> Reference:
    """The reference ``sample`` gated once with ``strategy``'s template, ready to follow targets."""
    return Reference(strategy, sample, settings, aliases=aliases)


def follow_gates(strategy: Strategy, follow: Any, sample: Any, *,
                 aliases: MarkerAliases | None = None) -> FollowOutcome:
    """The hook of :func:`cytogate.gate`: ``follow`` is a :class:`Reference` or the reference sample."""
    if isinstance(follow, Reference):
        reference = follow
        if reference.strategy is not strategy and reference.strategy.sha256 != strategy.sha256:
            raise FollowError("the reference was prepared for another strategy", path=strategy.source)
    else:
        prepared = next((r for s, f, r in _PREPARED if s is strategy and f is follow), None)
        if prepared is None:
            prepared = Reference(strategy, follow, aliases=aliases)
            _PREPARED.append((strategy, follow, prepared))
            del _PREPARED[:-4]
        reference = prepared
    return follow_sample(strategy, reference, sample, aliases=aliases)
