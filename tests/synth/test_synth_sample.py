"""cytogate.synth: one synthetic sample (determinism, frequencies, spillover, truth, shifts, FCS)."""

from __future__ import annotations

import numpy as np
import pytest

from cytogate.errors import CytogateError
from cytogate.synth import (
    CATEGORIES,
    PANELS,
    TRUTH,
    Shift,
    SynthError,
    synthesize_sample,
    truth_counts,
    truth_membership,
)
from cytogate.synth.populations import LEAVES, baseline_concentrations


@pytest.fixture(scope="module")
def big():
    return synthesize_sample("lupus_pd", n_events=200_000, seed=11)


def _comp(sample, marker):
    return sample.compensated()[:, list(sample.panel.markers).index(marker)]


def test_shape_channels_markers_and_dtype():
    s = synthesize_sample("lupus_pd", n_events=3000, seed=1)
    assert s.events.shape == (3000, len(s.channels)) and s.events.dtype == np.float32
    assert s.channels[:3] == ("FSC-A", "FSC-H", "SSC-A") and s.channels[-1] == "Time"
    assert "YG586-A" in s.channels and s.markers[s.channels.index("YG586-A")] == "CD268"
    assert {"CD3", "CD4", "CD8", "CD19", "CD268", "CD25", "CD127", "CD123", "CD303", "HLA-DR", "Live/Dead"} <= set(
        s.markers
    )
    assert s.spillover.channels == PANELS["lupus_pd"].fluorescence_channels
    assert np.all(np.diff(s.channel("Time")) >= 0)
    assert len(s.labels) == 3000 and list(s.labels.categories) == list(CATEGORIES)


def test_same_seed_same_sample_other_seed_differs():
    a = synthesize_sample("lupus_pd", n_events=5000, seed=7)
    b = synthesize_sample("lupus_pd", n_events=5000, seed=7)
    c = synthesize_sample("lupus_pd", n_events=5000, seed=8)
    assert np.array_equal(a.events, b.events) and np.array_equal(a.codes, b.codes)
    assert not np.array_equal(a.events, c.events)


def test_frequencies_match_the_model_within_counting_noise(big):
    expected = big.expected_fractions()
    counts = np.bincount(big.codes, minlength=len(CATEGORIES))
    n = big.n_events
    for i, name in enumerate(CATEGORIES):
        p = expected[name]
        sd = np.sqrt(n * p * (1 - p)) + 1.0
        assert abs(counts[i] - n * p) < 5 * sd, (name, counts[i], n * p)


def test_realistic_rarities_and_ratios(big):
    c = truth_counts(big)
    assert 0.001 <= c["pDC"] / c["Live"] <= 0.005  # pDC 0.1-0.5% of leukocytes
    assert 0.05 <= c["Tregs"] / c["CD4 T"] <= 0.08  # Tregs 5-8% of CD4
    assert c["CD268+ B"] / c["B cells"] > 0.85  # BAFF-R on most B cells
    assert 0.15 < c["Lymphocytes"] / c["Live"] < 0.45
    assert 0.5 < c["CD4 T"] / c["T cells"] < 0.75


def test_frequency_multipliers_scale_populations():
    base = baseline_concentrations()
    scaled = baseline_concentrations({"B cells": 0.5, "Tregs": 2.0})
    names = [leaf.name for leaf in LEAVES]
    b_leaves = [names.index(n) for n in TRUTH["B cells"].labels]
    np.testing.assert_allclose(scaled[b_leaves], 0.5 * base[b_leaves])
    t = names.index("Memory Treg")
    assert scaled[t] == pytest.approx(2 * base[t])
    others = [i for i, n in enumerate(names) if n not in TRUTH["B cells"].labels | TRUTH["Tregs"].labels]
    np.testing.assert_array_equal(scaled[others], base[others])
    a = synthesize_sample("lupus_pd", 100_000, seed=3)
    b = synthesize_sample("lupus_pd", 100_000, seed=3, frequencies={"B cells": 0.4})
    ratio = truth_counts(b)["B cells"] / truth_counts(a)["B cells"]
    assert 0.33 < ratio < 0.49
    with pytest.raises(SynthError, match="unknown population 'B-cells'"):
        synthesize_sample("lupus_pd", 100, seed=1, frequencies={"B-cells": 0.5})


def test_spillover_applied_and_compensation_recovers_unmixed(big):
    fl = [big.channels.index(c) for c in big.spillover.channels]
    raw = big.events[:, fl].astype(np.float64)
    matrix = big.spillover.matrix
    assert np.allclose(np.diag(matrix), 1) and (matrix >= 0).all() and (matrix - np.eye(len(fl))).max() > 0.3
    scale = np.abs(big.unmixed).max(axis=1, keepdims=True) + 1
    assert np.abs(big.compensated() - big.unmixed).max(initial=0) < 1e-3 * scale.max()
    assert (np.abs(big.compensated() - big.unmixed) / scale).max() < 1e-5
    # PE (CD268 on B cells) spills into YG610-A (CD25): visible raw, gone after compensation
    b = big.membership("CD268+ B")
    cd25 = big.channels.index("YG610-A")
    assert np.median(raw[b, fl.index(cd25)]) > 1500
    assert abs(np.median(_comp(big, "CD25")[b])) < 400


def test_negatives_spread_around_zero_including_negative_values(big):
    t = big.membership("T cells")
    cd19 = _comp(big, "CD19")[t]
    assert (cd19 < 0).mean() > 0.05 and np.median(cd19) < 300
    assert np.median(_comp(big, "CD3")[t]) > 5000


def test_truth_hierarchy_is_consistent(big):
    masks = truth_membership(big)
    assert set(big.panel.truth) <= set(masks)
    paths = big.truth_paths()
    by_path = {paths[name]: name for name in masks}
    for name, mask in masks.items():
        parent = paths[name].rsplit("/", 1)[0]
        if parent in by_path:
            assert not (mask & ~masks[by_path[parent]]).any(), f"{name} not inside {by_path[parent]}"
    labels = np.asarray(big.labels)
    assert not masks["Singlets"][labels == "Doublet"].any()
    assert not masks["Live"][labels == "Dead cell"].any()
    assert not masks["T cells"][(labels == "Dead cell") | (labels == "Doublet") | (labels == "Debris")].any()
    assert (masks["Cells"] | masks["Debris"]).all()
    np.testing.assert_array_equal(masks["Leukocytes"], masks["Live"])
    assert np.array_equal(masks["CD4 T"], masks["CD4 Naive"] | masks["CD4 CM"] | masks["CD4 EM"] | masks["CD4 TEMRA"])
    assert {k: int(v.sum()) for k, v in masks.items()} == truth_counts(big)


def test_doublets_off_diagonal_and_dead_cells_bright(big):
    labels = np.asarray(big.labels)
    ratio = big.channel("FSC-H") / np.maximum(big.channel("FSC-A"), 1)
    live = big.membership("Live")
    doublet = (labels == "Doublet") & (big.channel("FSC-A") < 262143)
    assert np.quantile(ratio[live], 0.01) > 0.72
    assert np.quantile(ratio[doublet], 0.95) < 0.65
    ld = _comp(big, "Live/Dead")
    assert np.quantile(ld[labels == "Dead cell"], 0.01) > 5000
    assert np.quantile(ld[live], 0.99) < 1000


@pytest.mark.parametrize(
    ("population", "marker", "low", "high"),
    [
        ("T cells", "CD3", 3000, None),
        ("B cells", "CD3", None, 400),
        ("B cells", "CD19", 2000, None),
        ("Tregs", "CD25", 4000, None),
        ("Tregs", "CD127", None, 800),
        ("pDC", "CD123", 10000, None),
        ("pDC", "CD303", 5000, None),
        ("CD4 EM", "CCR7", None, 400),
        ("CD8 TEMRA", "CD45RA", 2500, None),
    ],
)
def test_population_medians_sit_where_the_docs_say(big, population, marker, low, high):
    median = np.median(_comp(big, marker)[big.membership(population)])
    assert low is None or median > low
    assert high is None or median < high


@pytest.mark.parametrize("panel", sorted(PANELS))
def test_every_panel_generates_with_its_truth(panel):
    s = synthesize_sample(panel, n_events=4000, seed=2)
    masks = truth_membership(s)
    assert set(PANELS[panel].truth) <= set(masks)
    assert all(m.shape == (4000,) for m in masks.values())
    assert np.isfinite(s.events).all()


def test_shift_moves_locations_but_not_truth():
    base = synthesize_sample("lupus_pd", 30_000, seed=5)
    shift = Shift(fsc=1.2, ssc=0.8, fluorescence=0.7, detectors={"YG610-A": 1.5}, staining={"CD3": 0.5})
    moved = synthesize_sample("lupus_pd", 30_000, seed=5, shift=shift)
    np.testing.assert_array_equal(base.codes, moved.codes)
    lymph = base.membership("Lymphocytes")
    for channel, factor in (("FSC-A", 1.2), ("SSC-A", 0.8)):
        ratio = np.median(moved.channel(channel)[lymph]) / np.median(base.channel(channel)[lymph])
        assert ratio == pytest.approx(factor, rel=0.03)
    t = base.membership("T cells")
    ratio = np.median(_comp(moved, "CD3")[t]) / np.median(_comp(base, "CD3")[t])
    assert ratio == pytest.approx(0.5 * 0.7, rel=0.05)
    tregs = base.membership("Tregs")
    ratio = np.median(moved.channel("YG610-A")[tregs]) / np.median(base.channel("YG610-A")[tregs])
    assert ratio == pytest.approx(0.7 * 1.5, rel=0.1)
    # the day's spillover follows the gains, so compensation still recovers the unmixed values
    assert not np.allclose(moved.spillover.matrix, base.spillover.matrix)
    scale = np.abs(moved.unmixed).max() + 1
    assert np.abs(moved.compensated() - moved.unmixed).max() < 1e-5 * scale


def test_shift_parse_random_and_errors():
    panel = PANELS["lupus_pd"]
    s = Shift.parse("scatter=1.1,fluorescence=0.9,B530-A=1.3,CD25=0.5", panel)
    assert (s.fsc, s.ssc, s.fluorescence) == (1.1, 1.1, 0.9)
    assert s.detectors == {"B530-A": 1.3} and s.staining == {"CD25": 0.5}
    assert Shift.parse(s.describe(), panel) == s
    r1, r2 = Shift.parse("random", panel, seed=4), Shift.parse("random", panel, seed=4)
    assert r1 == r2 and not r1.is_identity
    assert Shift.parse("random=0", panel, seed=4).is_identity
    assert Shift.parse("random,CD25=2", panel, seed=4).staining["CD25"] == 2
    for bad, message in (("foo=2", "neither"), ("fsc", "KEY=FACTOR"), ("fsc=abc", "not a number"), ("fsc=-1", "positive")):
        with pytest.raises(SynthError, match=message):
            Shift.parse(bad, panel)
    with pytest.raises(SynthError, match="absent from panel"):
        synthesize_sample("b_cell", 100, seed=1, shift=Shift(staining={"CD25": 0.5}))


def test_bad_parameters_raise_cytogate_errors():
    with pytest.raises(SynthError, match="unknown panel 'nope'; available: lupus_pd"):
        synthesize_sample("nope", 100)
    with pytest.raises(CytogateError, match="n_events"):
        synthesize_sample("lupus_pd", 0)
    with pytest.raises(ValueError, match="debris"):
        synthesize_sample("lupus_pd", 100, debris=0.9)


def test_counting_beads_give_absolute_counts():
    s = synthesize_sample("lupus_pd", 100_000, seed=9, beads_per_test=50_000, volume_ul=50)
    c = truth_counts(s)
    assert c["Beads"] > 1000
    estimate = c["Live"] / c["Beads"] * 50_000 / 50
    truth = s.composition.per_ul.sum()
    assert estimate == pytest.approx(truth, rel=0.06)
    assert s.keywords()["CYTOGATE_BEADS_PER_TEST"] == "50000"


def test_written_file_reads_back_with_cytogate_and_flowio(tmp_path):
    flowio = pytest.importorskip("flowio")
    from cytogate import read_fcs

    s = synthesize_sample("lupus_pd", 4000, seed=12, shift="random", name="S01")
    path = tmp_path / "s.fcs"
    s.write(path)
    back = read_fcs(path)
    np.testing.assert_array_equal(np.asarray(back.events), s.events)
    assert tuple(back.channels) == s.channels
    assert [m or "" for m in back.markers] == list(s.markers)
    assert back.spillover.channels == s.spillover.channels
    np.testing.assert_allclose(back.spillover.matrix, s.spillover.matrix, rtol=1e-12)
    assert back.keywords["$SRC"] == "S01" and back.keywords["CYTOGATE_SYNTH_PANEL"] == "lupus_pd"
    again = synthesize_sample("lupus_pd", 4000, seed=int(back.keywords["CYTOGATE_SYNTH_SEED"]), shift=s.shift)
    np.testing.assert_array_equal(again.events, s.events)
    fio = flowio.FlowData(str(path))
    assert fio.event_count == 4000 and fio.channel_count == len(s.channels)
    data = np.reshape(np.asarray(fio.events, dtype=np.float32), (4000, -1))
    np.testing.assert_array_equal(data, s.events)


def _f1(truth: np.ndarray, gated: np.ndarray) -> float:
    return 2 * (truth & gated).sum() / (truth.sum() + gated.sum())


def test_a_strong_shift_defeats_a_fixed_threshold():
    """A CD25 cut placed between Tregs and CD25-dim memory cells on one sample misses
    most Tregs of a sample whose CD25 stain came out 4x dimmer: a fixed gate fails."""
    base = synthesize_sample("t_cell", 60_000, seed=13)
    dim = synthesize_sample("t_cell", 60_000, seed=14, shift="CD25=0.25")
    cut = np.sqrt(np.median(_comp(base, "CD25")[base.membership("Tregs")]) * 600.0)  # geometric midpoint
    for sample, good in ((base, True), (dim, False)):
        cd4 = sample.membership("CD4 T")
        gated = cd4 & (_comp(sample, "CD25") > cut) & (_comp(sample, "CD127") < 1000)
        assert bool(_f1(sample.membership("Tregs"), gated) > 0.9) is good


def test_truth_membership_by_path():
    s = synthesize_sample("lupus_pd", 2000, seed=1)
    by_path = truth_membership(s, by="path")
    assert "/Cells/Singlets/Live/Lymphocytes/B cells/CD268+ B" in by_path
    np.testing.assert_array_equal(by_path["/Cells/Singlets/Live/Lymphocytes/pDC"], s.membership("pDC"))
    with pytest.raises(SynthError, match="by must be"):
        truth_membership(s, by="label")


def test_drop_leaves_channels_out_and_keeps_the_truth():
    from cytogate.errors import SynthError
    from cytogate.synth import synthesize_sample, truth_counts

    full = synthesize_sample("lupus_pd", 5000, seed=9)
    lean = synthesize_sample("lupus_pd", 5000, seed=9, drop=("FSC-H", "CD303", "CD45"))
    assert "FSC-H" not in lean.channels and not {"CD303", "CD45"} & set(lean.markers)
    assert lean.events.shape == (5000, len(full.channels) - 3) and len(lean.spillover.channels) == 12
    assert truth_counts(lean) == truth_counts(full)
    assert lean.keywords()["CYTOGATE_SYNTH_DROP"] == "FSC-H,CD303,CD45"
    for bad, message in ((("CD999",), "no channel or marker CD999"), (("SSC-A",), "cannot be dropped"),
                         ("FSC-H", "sequence of channel names")):
        with pytest.raises(SynthError, match=message):
            synthesize_sample("lupus_pd", 100, seed=1, drop=bad)
