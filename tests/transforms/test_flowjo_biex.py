"""FlowJo biex against the lookup table exported by FlowJo, and FlowJo log."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import corpus_path

from cytogate.errors import TransformError
from cytogate.transforms import FlowJoBiexTransform, FlowJoLogTransform, LogicleTransform

TABLE = "whitews+FlowKit/data/flowjo_xforms/tr_biex_l256_w-7.943282_n1.000000_m4.418540_r262144.000029.csv"


def flowjo_table() -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(corpus_path(TABLE), delimiter=",", skiprows=1)
    return data[:, 0], data[:, 1]


@pytest.mark.corpus
def test_matches_flowjo_lookup_table() -> None:
    channel, raw = flowjo_table()
    assert channel.size == 4096
    tr = FlowJoBiexTransform(width=-7.943282, negative=1.0, positive=4.41854, max_value=262144.000029)
    assert tr.zero_channel == 1096 and raw[1096] == 0.0
    values = tr.inverse(channel / 4096)
    nonzero = raw != 0
    rel = np.abs(values[nonzero] - raw[nonzero]) / np.abs(raw[nonzero])
    assert rel.mean() < 1e-4  # the requirement (0.01 %)
    assert rel.max() < 1e-5  # in fact limited by the table's 6 printed digits
    assert values[1096] == 0.0
    # and forward: each raw value lands on its channel
    np.testing.assert_allclose(tr.apply(raw) * 4096, channel, rtol=0, atol=0.01)


def test_is_point_symmetric_about_the_zero_channel() -> None:
    tr = FlowJoBiexTransform(width=-10.0, negative=0.5, positive=4.5, max_value=262144.0)
    z = tr.zero_channel / 4096
    assert tr.apply(0.0) == pytest.approx(z, abs=1e-15)
    k = np.arange(1, 200) / 4096
    np.testing.assert_allclose(tr.inverse(z - k), -tr.inverse(z + k), rtol=1e-12)


def test_zero_channel_at_the_bottom_when_width_is_one() -> None:
    # width -1 means no linear region: log10(1) = 0, so with no negative decades zero sits at channel 0
    tr = FlowJoBiexTransform(width=-1.0, negative=0.0, positive=4.5, max_value=1e5)
    assert tr.zero_channel == 0
    x = np.array([0.0, 1.0, 100.0, 1e5])
    assert np.all(np.diff(tr.apply(x)) > 0)
    np.testing.assert_allclose(tr.inverse(tr.apply(x)), x, rtol=1e-10, atol=1e-12)


def test_close_to_logicle_with_matching_parameters() -> None:
    """FlowJo biex is logicle up to the rounded zero channel and the j/(N+1) grid."""
    width, neg, pos, top = -10.0, 0.0, 4.418540, 262144.0
    tr = FlowJoBiexTransform(width=width, negative=neg, positive=pos, max_value=top)
    logicle = LogicleTransform(t=top, w=math.log10(-width) / 2, m=pos, a=neg)
    x = np.array([-100.0, 0.0, 100.0, 1e3, 1e4, 1e5])
    assert np.max(np.abs(tr.apply(x) - logicle.apply(x))) < 2e-3


def test_from_workspace_attributes() -> None:
    attrs = {"transforms:length": "256", "transforms:maxRange": "262144", "transforms:neg": "0",
             "transforms:width": "-10", "transforms:pos": "4.418539922"}
    tr = FlowJoBiexTransform.from_flowjo_attributes(attrs)
    assert tr == FlowJoBiexTransform(width=-10.0, negative=0.0, positive=4.418539922, max_value=262144.0)
    with pytest.raises(TransformError, match="non-numeric"):
        FlowJoBiexTransform.from_flowjo_attributes({"width": "wide"})


def test_flowjo_log() -> None:
    tr = FlowJoLogTransform(offset=1.0, decades=4.5)
    x = np.array([-5.0, 0.0, 0.5, 1.0, 10.0, 10**4.5, np.nan])
    y = tr.apply(x)
    np.testing.assert_allclose(y[:6], [0, 0, 0, 0, 1 / 4.5, 1.0], rtol=1e-14, atol=1e-15)
    assert np.isnan(y[6])
    tr2 = FlowJoLogTransform(offset=10.0, decades=3.0)
    np.testing.assert_allclose(tr2.apply([10.0, 100.0, 1e4]), [0.0, 1 / 3, 1.0], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(tr2.inverse([0.0, 0.5, 1.0]), [10.0, 10**2.5, 1e4], rtol=1e-14)
