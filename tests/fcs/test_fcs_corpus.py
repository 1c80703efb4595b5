"""Every readable FCS/LMD file of the conformance corpus, against the truths and the oracles."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from conftest import CORPUS, corpus_path

from cytogate.errors import FcsError, FcsWarning
from cytogate.fcs import read_fcs, read_metadata

pytestmark = pytest.mark.corpus

FP = "eyurtsev+fcsparser/fcsparser/tests/data/FlowCytometers/"
MQ31 = FP + "MiltenyiBiotec/FCS3.1/"
READABLE = [
    "RGLab+flowCore/inst/extdata/0877408774.B08",
    "RGLab+flowCore/inst/extdata/compdata/data/060909.001",
    "RGLab+flowCore/inst/extdata/compdata/data/060909.002",
    "RGLab+flowCore/inst/extdata/compdata/data/060909.003",
    "RGLab+flowCore/inst/extdata/compdata/data/060909.004",
    "RGLab+flowCore/inst/extdata/compdata/data/060909.005",
    FP + "Cytek_xP5/Cytek_xP5.fcs",
    FP + "FACSCaliburHTS/Sample_Well_A02.fcs",
    FP + "FACS_Diva/facs_diva_test.fcs",
    FP + "Fortessa/FCS_3.0_Fortessa_PBS_Specimen_001_A1_A01.fcs",
    FP + "HTS_BD_LSR-II/HTS_BD_LSR_II_Mixed_Specimen_001_D6_D06.fcs",
    FP + "MiltenyiBiotec/FCS2.0/EY_2013-07-19_PBS_FCS_2.0_Custom_Without_Add_Well_A1.001.fcs",
    FP + "MiltenyiBiotec/FCS3.0/FCS3.0_Custom_Compatible.fcs",
    MQ31 + "EY_2013-07-19_PBS_FCS_3.1_Custom_Add_Well_A1.001.fcs",
    MQ31 + "EY_2013-07-19_PBS_FCS_3.1_Custom_Without_Add_Well_A1.001.fcs",
    MQ31 + "EY_2013-07-19_PBS_FCS_3.1_Well_A1.001.fcs",
    MQ31 + "SG_2014-09-26_Duplicate_Names.fcs",
    FP + "cyflow_cube_8/cyflow_cube_8.fcs",
    FP + "fake_bitmask_error/fcs1_cleaned.lmd",
    FP + "fake_large_fcs/fake_large_fcs.fcs",
    "taborlab+FlowCal/test/Data001.fcs",
    "taborlab+FlowCal/test/Data002.fcs",
    "taborlab+FlowCal/test/Data003.fcs",
    "taborlab+FlowCal/test/Data004.fcs",
    "tlnagy+FCSFiles.jl/test/testdata/Attune.fcs",
    "tlnagy+FCSFiles.jl/test/testdata/BD_Accuri_C6.fcs",
    "whitews+FlowIO/data/fcs_files/3FITC_4PE_004.fcs",
    "whitews+FlowIO/data/fcs_files/B01 KC-A-W---91-US.fcs",
    "whitews+FlowIO/data/fcs_files/G11.fcs",
    "whitews+FlowIO/data/fcs_files/variable_int_example.fcs",
    "whitews+FlowKit/data/100715.fcs",
    "whitews+FlowKit/data/gate_ref/data1.fcs",
    "whitews+FlowKit/data/index_sorted/index_sorted_example.fcs",
    "whitews+FlowKit/data/multi_dataset_fcs/coulter.lmd",
    "whitews+FlowKit/data/noncompliant/data_start_offset_discrepancy_example.fcs",
    "whitews+FlowKit/data/noncompliant/data_stop_offset_discrepancy_example.fcs",
    "whitews+FlowKit/data/simple_diamond_example/test_data_diamond_01.fcs",
    "whitews+FlowKit/data/simple_line_example/data_set_simple_line_100.fcs",
    "whitews+FlowKit/data/test_comp_example.fcs",
    "whitews+FlowKit/data/test_data_2d_01.fcs",
]
UNREADABLE = [FP + "corrupted/corrupted.fcs", FP + "cytek-nl-2000/sample_header.fcs"]

_MALFORMED_SPILL = r"\$SPILLOVER declares 6 channels but holds 6 fields, expected 42"
_TIMESTEP = r"\$TIMESTEP has value 'xxxxxxxxx'"
_OFFSETS = r"HEADER DATA offsets disagree with \$BEGINDATA/\$ENDDATA"
# The only FcsWarnings the corpus may raise (for read_fcs + events with scale=True), by file.
EXPECTED_WARNINGS = {
    MQ31 + "EY_2013-07-19_PBS_FCS_3.1_Custom_Add_Well_A1.001.fcs": [_MALFORMED_SPILL],
    MQ31 + "EY_2013-07-19_PBS_FCS_3.1_Custom_Without_Add_Well_A1.001.fcs": [_MALFORMED_SPILL],
    MQ31 + "EY_2013-07-19_PBS_FCS_3.1_Well_A1.001.fcs": [_MALFORMED_SPILL],
    "whitews+FlowIO/data/fcs_files/variable_int_example.fcs": [_TIMESTEP],
    "whitews+FlowKit/data/noncompliant/data_start_offset_discrepancy_example.fcs": [_OFFSETS, _TIMESTEP],
    "whitews+FlowKit/data/noncompliant/data_stop_offset_discrepancy_example.fcs": [_OFFSETS, _TIMESTEP],
}
# FlowIO cannot read these (24-bit data; blank HEADER offsets; several data sets; bad $TIMESTEP).
FLOWIO_CANNOT = {
    FP + "Cytek_xP5/Cytek_xP5.fcs",
    "taborlab+FlowCal/test/Data003.fcs",
    FP + "fake_large_fcs/fake_large_fcs.fcs",
    "whitews+FlowKit/data/multi_dataset_fcs/coulter.lmd",
    "whitews+FlowIO/data/fcs_files/variable_int_example.fcs",
    "whitews+FlowKit/data/noncompliant/data_start_offset_discrepancy_example.fcs",
    "whitews+FlowKit/data/noncompliant/data_stop_offset_discrepancy_example.fcs",
}


def _read_quiet(path, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FcsWarning)
        sample = read_fcs(path, **options)
        _ = sample.events  # decoding is what fails
    return sample


def test_corpus_list_is_complete():
    """Every FCS/LMD file in the corpus is listed above (a new file cannot go untested)."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    found = set()
    for path in CORPUS.rglob("*"):
        if path.is_file() and (path.suffix.lower() in (".fcs", ".lmd", ".b08") or re.fullmatch(r"\d{6}\.\d{3}", path.name)):
            found.add(path.relative_to(CORPUS).as_posix())
    assert found == set(READABLE) | set(UNREADABLE)


@pytest.mark.parametrize("relative", READABLE)
def test_reads_with_only_expected_warnings(relative):
    path = corpus_path(relative)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sample = read_fcs(path)
        events = sample.events
    messages = [str(w.message) for w in caught]
    assert all(issubclass(w.category, FcsWarning) for w in caught), messages
    expected = EXPECTED_WARNINGS.get(relative, [])
    assert len(messages) == len(expected), messages
    for pattern in expected:
        assert any(re.search(pattern, m) for m in messages), (pattern, messages)
    assert events.shape == (sample.n_events, len(sample.channels))
    assert events.dtype in (np.float32, np.float64)
    assert not events.flags.writeable
    assert sample.version.startswith("FCS")
    assert len(sample.markers) == len(sample.channels)
    assert len(set(sample.channels)) == len(sample.channels)


@pytest.mark.parametrize("relative", [r for r in READABLE if r not in FLOWIO_CANNOT])
def test_equals_flowio_raw_and_scaled(relative):
    flowio = pytest.importorskip("flowio")
    path = corpus_path(relative)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oracle = flowio.FlowData(str(path), ignore_offset_error=True)
        scaled_truth = oracle.as_array(preprocess=True)
        raw_truth = oracle.as_array(preprocess=False)
    sample = _read_quiet(path)
    scaled = sample.events.astype(np.float64)
    raw = _read_quiet(path, scale=False).events
    np.testing.assert_array_equal(raw.astype(np.float64), raw_truth)
    # Log channels: FlowIO uses np.power, whose SIMD loop is up to 1 ulp off the C library's
    # pow; cytogate uses the latter and so matches the published truth .npy files exactly.
    log = [j for j in range(scaled.shape[1]) if _is_log(sample.keywords, j + 1)]
    linear = [j for j in range(scaled.shape[1]) if j not in log]
    np.testing.assert_array_equal(scaled[:, linear], scaled_truth[:, linear])
    np.testing.assert_array_max_ulp(scaled[:, log], scaled_truth[:, log], maxulp=1)


def _is_log(keywords, n):
    value = keywords.get(f"$P{n}E", "0,0").split(",")
    return float(value[0]) > 0 and keywords.get(f"$P{n}N", "").lower() != "time"


@pytest.mark.parametrize("relative", READABLE)
def test_column_equals_events_and_is_lazy(relative):
    path = corpus_path(relative)
    for scale in (True, False):
        lazy = _read_quiet(path, scale=scale)
        lazy.__dict__.pop("events", None)
        full = _read_quiet(path, scale=scale).events
        for j in range(len(lazy.channels)):
            column = lazy.column(j)
            assert column.dtype == full.dtype
            np.testing.assert_array_equal(column, full[:, j])
        assert "events" not in lazy.__dict__


def test_parser_expectations_json():
    truth = json.loads(corpus_path("truth/parser_expectations.json").read_text())
    checked = 0
    for relative, expect in truth.items():
        path = corpus_path(relative)
        dataset = expect.get("dataset", 1) - 1
        raw = _read_quiet(path, scale=False, dataset=dataset).events.astype(np.float64)
        if "first_rows" in expect:
            rows = np.array(expect["first_rows"], dtype=np.float64)
            # The JSON keeps ~9 significant digits, so large values need a relative tolerance too.
            np.testing.assert_allclose(raw[: len(rows)], rows, rtol=1e-8, atol=1.5 * 10.0 ** -expect["decimal"], err_msg=relative)
        if "shape" in expect:
            assert list(raw.shape) == expect["shape"], relative
        if "events_flat" in expect:
            assert raw.shape == (expect["n_events"], expect["n_params"])
            np.testing.assert_array_equal(raw.ravel(), np.array(expect["events_flat"], dtype=np.float64))
        if "first_values_flat_uint32" in expect:
            flat = np.array(expect["first_values_flat_uint32"], dtype=np.float64)
            np.testing.assert_array_equal(raw.ravel()[: len(flat)], flat)
        if "n_events" in expect:
            assert raw.shape[0] == expect["n_events"], relative
        sample = _read_quiet(path, scale=False, dataset=dataset)
        for channel, where in expect.get("values", {}).items():
            assert sample.column(channel)[where["event_index0"]] == where["value"], relative
        checked += 1
    assert checked == len(truth) == 13


def test_gatingml_data1_against_flowio_truth_npy():
    path = corpus_path("whitews+FlowKit/data/gate_ref/data1.fcs")
    raw_truth = np.load(corpus_path("whitews+FlowIO/data/truth/data1_original_events.npy"))
    scaled_truth = np.load(corpus_path("whitews+FlowIO/data/truth/data1_preprocessed.npy"))
    scaled = read_fcs(path)
    assert scaled.events.dtype == np.float64
    np.testing.assert_array_equal(scaled.events, scaled_truth)
    np.testing.assert_array_equal(read_fcs(path, scale=False).events, raw_truth)


def test_timestep_truth_npy():
    path = corpus_path("whitews+FlowIO/data/fcs_files/B01 KC-A-W---91-US.fcs")
    truth = np.load(corpus_path("whitews+FlowIO/data/truth/B01 KC-A-W---91-US_preprocessed_events.npy"))
    sample = read_fcs(path)
    np.testing.assert_array_equal(sample.events, truth)
    raw = read_fcs(path, scale=False)
    time = sample.channel_index("Time")
    np.testing.assert_array_equal(sample.column("Time"), raw.column("Time") * float(sample.keywords["$TIMESTEP"]))
    assert time == len(sample.channels) - 1


@pytest.mark.parametrize("relative", [r for r in READABLE if r not in FLOWIO_CANNOT or "offset" in r or "variable" in r])
def test_equals_fcsparser_where_it_reads(relative):
    fcsparser = pytest.importorskip("fcsparser")
    path = corpus_path(relative)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, frame = fcsparser.parse(str(path), reformat_meta=False)
    except Exception as exc:  # fcsparser 0.2 breaks on big-endian data under numpy 2
        pytest.skip(f"fcsparser cannot read this file here: {type(exc).__name__}")
    raw = _read_quiet(path, scale=False).events
    if relative.endswith("data_start_offset_discrepancy_example.fcs"):
        # fcsparser trusts the wrong HEADER start offset; the TEXT offsets (our choice) give
        # exactly the events of the intact twin file.
        twin = _read_quiet(corpus_path("whitews+FlowIO/data/fcs_files/variable_int_example.fcs"), scale=False)
        np.testing.assert_array_equal(raw, twin.events)
        assert not np.array_equal(frame.to_numpy(np.float64), raw)
        return
    np.testing.assert_array_equal(raw.astype(np.float64), frame.to_numpy(np.float64))


def test_offset_discrepancy_files_match_intact_twin():
    twin = _read_quiet(corpus_path("whitews+FlowIO/data/fcs_files/variable_int_example.fcs")).events
    for name in ("data_start_offset_discrepancy_example.fcs", "data_stop_offset_discrepancy_example.fcs"):
        path = corpus_path(f"whitews+FlowKit/data/noncompliant/{name}")
        with pytest.warns(FcsWarning, match="disagree"):
            sample = read_fcs(path, scale=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FcsWarning)
            np.testing.assert_array_equal(read_fcs(path).events, twin)
        assert sample.n_events == 2


def test_multi_dataset_lmd():
    path = corpus_path("whitews+FlowKit/data/multi_dataset_fcs/coulter.lmd")
    first = read_fcs(path, scale=False)
    second = read_fcs(path, scale=False, dataset=1)
    assert (first.n_datasets, second.n_datasets) == (2, 2)
    assert (first.version, second.version) == ("FCS2.0", "FCS3.0")
    assert first.n_events == second.n_events == 18110
    assert first.dataset == 0 and second.dataset == 1
    assert first.events.shape == second.events.shape == (18110, 8)
    assert not np.array_equal(first.events, second.events)
    with pytest.raises(FcsError, match="data set 2 requested but the file has 2"):
        read_fcs(path, dataset=2)
    assert read_metadata(path, dataset=1).version == "FCS3.0"


def test_beckman_dfc_spillover():
    """$DFCiTOj are percentages of detector FLi spilling into FLj (Navios: PE->ECD 44.8 %)."""
    sample = read_metadata(corpus_path(FP + "fake_bitmask_error/fcs1_cleaned.lmd"))
    spill = sample.spillover
    assert spill is not None and spill.source == "$DFCiTOj"
    assert spill.channels == ("FL1 INT LOG", "FL2 INT LOG", "FL3 INT LOG", "FL4 INT LOG", "FL5 INT LOG")
    m = spill.matrix
    assert np.array_equal(np.diag(m), np.ones(5))
    assert m[0, 1] == pytest.approx(0.134)  # $DFC1TO2 13.4
    assert m[1, 2] == pytest.approx(0.448)  # $DFC2TO3 44.8
    assert m[2, 3] == pytest.approx(0.292)  # $DFC3TO4 29.2
    assert m[1, 0] == pytest.approx(0.012)  # $DFC2TO1 1.2
    coulter = read_metadata(corpus_path("whitews+FlowKit/data/multi_dataset_fcs/coulter.lmd")).spillover
    assert coulter is not None and coulter.channels == ("FL1 Log", "FL2 Log", "FL3 Log")
    assert coulter.matrix[0, 2] == pytest.approx(0.284)


def test_spillover_keywords_named_by_pnn():
    sample = read_metadata(corpus_path(FP + "FACS_Diva/facs_diva_test.fcs"))
    assert sample.spillover is not None and sample.spillover.source == "SPILL"
    assert set(sample.spillover.channels) <= set(sample.channels)
    attune = read_metadata(corpus_path("tlnagy+FCSFiles.jl/test/testdata/Attune.fcs"))
    assert attune.spillover is not None and attune.spillover.source == "$SPILLOVER"
    assert len(attune.spillover.channels) == 21


def test_malformed_macsquant_spillover_warns_and_is_none():
    with pytest.warns(FcsWarning, match="declares 6 channels"):
        sample = read_metadata(corpus_path(MQ31 + "EY_2013-07-19_PBS_FCS_3.1_Well_A1.001.fcs"))
    assert sample.spillover is None


def test_duplicate_keyword_keeps_first_value():
    """The MACSQuant 'Duplicate_Names' file repeats the keyword $VOL in TEXT."""
    path = corpus_path(MQ31 + "SG_2014-09-26_Duplicate_Names.fcs")
    raw = path.read_bytes()
    text = raw[int(raw[10:18]) : int(raw[18:26]) + 1]
    assert text.count(text[:1] + b"$VOL" + text[:1]) == 2
    sample = read_metadata(path)
    first = text.split(text[:1] + b"$VOL" + text[:1])[1].split(text[:1])[0].decode()
    assert sample.keywords["$VOL"] == first
    assert sample.channels == ("HDR-CE", "HDR-SE", "HDR-V", "FSC-A", "FSC-H", "SSC-A", "SSC-H", "FL7-A", "FL7-H")


def test_empty_keyword_values_and_missing_final_delimiter():
    b08 = read_metadata(corpus_path("RGLab+flowCore/inst/extdata/0877408774.B08"))
    assert b08.keywords["$P3S"] == ""
    assert b08.markers[2] is None
    assert b08.keywords["&10ANALYSIS DOC."] == ""
    header_only = read_metadata(corpus_path(FP + "cytek-nl-2000/sample_header.fcs"))
    assert header_only.keywords["GROUPNAME"].startswith("20200722")
    assert header_only.n_events == 20000 and len(header_only.channels) == 27
    assert header_only.spillover is not None and len(header_only.spillover.channels) == 22


def test_masking_to_pnr():
    sample = _read_quiet(corpus_path(FP + "fake_bitmask_error/fcs1_cleaned.lmd"), scale=False)
    assert sample.events.max() <= 1023


@pytest.mark.parametrize("relative", UNREADABLE)
def test_unreadable_files_raise_fcs_error(relative):
    path = corpus_path(relative)
    with pytest.raises(FcsError) as info:
        read_fcs(path)
    assert str(path) in str(info.value)


def test_header_only_file_error_says_truncated():
    with pytest.raises(FcsError, match="need 2160000 bytes of DATA, but the file has only 3931"):
        read_fcs(corpus_path(FP + "cytek-nl-2000/sample_header.fcs"))


def test_channel_selection_reads_only_those():
    path = corpus_path("whitews+FlowKit/data/gate_ref/data1.fcs")
    full = read_fcs(path)
    part = read_fcs(path, channels=["SSC-H", 2, "FSC-H"])
    assert part.channels == ("SSC-H", full.channels[2], "FSC-H")
    np.testing.assert_array_equal(part.events, full.events[:, [1, 2, 0]])
    with pytest.raises(FcsError, match="'nope'"):
        read_fcs(path, channels=["nope"])
