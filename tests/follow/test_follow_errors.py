"""Bad input to template following: one clear error up front, or a flagged gate and gating goes on."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("SimpleITK", reason="template following needs the 'follow' extra")
pytest.importorskip("skimage", reason="template following needs the 'follow' extra")

from follow_helpers import TEMPLATE, as_sample

import cytogate
from cytogate.errors import StrategyError
from cytogate.fcs import Sample
from cytogate.follow import FollowError, FollowSettings, Reference
from cytogate.synth import synthesize_sample

EVENTS = 20_000


@pytest.fixture(scope="module")
def template():
    return cytogate.load_strategy(TEMPLATE)


@pytest.fixture(scope="module")
def synthetic():
    return synthesize_sample("lupus_pd", EVENTS, seed=3)


def test_reference_lacking_channels_names_them_all(template, synthetic):
    keep = [i for i, m in enumerate(synthetic.markers) if m not in ("CD3", "CD19")]
    sample = Sample.from_arrays(synthetic.events[:, keep], [synthetic.channels[i] for i in keep],
                                markers=[synthetic.markers[i] for i in keep], path="ref.fcs")
    with pytest.raises(FollowError) as info:
        Reference(template, sample)
    assert isinstance(info.value, StrategyError)
    message = str(info.value)
    assert "CD3" in message and "CD19" in message and "ref.fcs" in message
    assert len(message.splitlines()) == 1


def test_followed_gate_with_an_empty_parent_on_the_reference_is_a_load_time_error(template, synthetic):
    events = np.array(synthetic.events, copy=True)
    events[:, synthetic.channels.index("FSC-A")] = 1000.0  # everything is debris: /Cells is empty
    sample = Sample.from_arrays(events, synthetic.channels, markers=synthetic.markers,
                                spillover=synthetic.spillover)
    with pytest.raises(FollowError, match="parent /Cells has 0 events") as info:
        Reference(template, sample)
    assert "Singlets" in str(info.value)


def test_failed_registration_keeps_the_template_and_gating_goes_on(template, synthetic, monkeypatch):
    from cytogate.follow import core

    reference = Reference(template, as_sample(synthetic))

    def broken(*args, **kwargs):
        raise RuntimeError("optimizer diverged")

    monkeypatch.setattr(core, "register_plane", broken)
    target = as_sample(synthesize_sample("lupus_pd", EVENTS, seed=4, shift="fsc=1.1"))
    result = cytogate.gate(template, target, follow=reference)
    static = cytogate.gate(template, target)
    planes = [g for g in result.follow if g.template.kind in ("polygon", "ellipsoid")
              or len(g.template.dimensions) == 2 and g.template.kind == "rectangle"]
    assert planes and all(g.status == "fallback" and "optimizer diverged" in g.reason for g in planes)
    for g in planes:
        assert result.count(g.path) == static.count(g.path) or g.path != "/Cells"


@pytest.mark.parametrize("bad", [{"max_displacement": 0}, {"stiffness": 0.9}, {"min_confidence": 2},
                                 {"bins": 4}, {"method": "elastix"}, {"speed": 1}, {"bins": "many"}])
def test_bad_settings_are_rejected(bad):
    with pytest.raises(FollowError):
        FollowSettings.from_mapping(bad)
