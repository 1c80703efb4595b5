"""Shared fixtures of the template-following tests: a template drawn on one synthetic file."""

from __future__ import annotations

import pytest

pytest.importorskip("SimpleITK", reason="template following needs the 'follow' extra")
pytest.importorskip("skimage", reason="template following needs the 'follow' extra")

from follow_helpers import EVENTS, TEMPLATE, as_sample

import cytogate
from cytogate.synth import synthesize_sample


@pytest.fixture(scope="session")
def template():
    return cytogate.load_strategy(TEMPLATE)


@pytest.fixture(scope="session")
def reference_synthetic():
    return synthesize_sample("lupus_pd", EVENTS, seed=1)


@pytest.fixture(scope="session")
def reference(template, reference_synthetic):
    from cytogate.follow import Reference

    return Reference(template, as_sample(reference_synthetic))
