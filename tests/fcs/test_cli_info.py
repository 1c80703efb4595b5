"""`cytogate info`: human and JSON output, bad files, and never reading DATA."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import corpus_path
from fcs_builder import build_fcs, params

from cytogate.cli import main
from cytogate.fcs import write_fcs
from cytogate.fcs import decode as decode_module
from cytogate.fcs import sample as sample_module
from cytogate.compensation import Spillover


@pytest.fixture
def small(tmp_path):
    spill = Spillover(np.array([[1.0, 0.2], [0.1, 1.0]]), ("FL1-A", "FL2-A"))
    return write_fcs(
        tmp_path / "small.fcs",
        np.ones((25, 3), dtype=np.float32),
        ["FSC-A", "FL1-A", "FL2-A"],
        markers=[None, "CD3", "CD19"],
        keywords={"$CYT": "TestCyt", "$DATE": "01-JAN-2026"},
        spillover=spill,
    )


def test_human_output(small, capsys):
    assert main(["info", str(small)]) == 0
    out = capsys.readouterr().out
    assert "FCS3.1" in out and "25" in out
    assert "CD19" in out and "FL2-A" in out
    assert "$SPILLOVER, 2 channels" in out
    assert "TestCyt" in out


def test_json_output(small, capsys):
    assert main(["info", "--json", str(small)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list) and len(data) == 1
    info = data[0]
    assert info["n_events"] == 25 and info["version"] == "FCS3.1" and info["n_datasets"] == 1
    assert [c["name"] for c in info["channels"]] == ["FSC-A", "FL1-A", "FL2-A"]
    assert [c["marker"] for c in info["channels"]] == [None, "CD3", "CD19"]
    assert info["channels"][0]["bits"] == "32"
    assert info["spillover"]["matrix"] == [[1.0, 0.2], [0.1, 1.0]]
    assert info["keywords"]["$CYT"] == "TestCyt"


def test_bad_file_reported_others_printed(small, tmp_path, capsys):
    bad = tmp_path / "bad.fcs"
    bad.write_bytes(b"garbage")
    assert main(["info", str(bad), str(small)]) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.strip()]
    assert len(errors) == 1 and str(bad) in errors[0] and "Traceback" not in captured.err
    assert "small.fcs" in captured.out
    assert main(["info", "--json", str(small), str(bad)]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data[0]["n_events"] == 25 and "error" in data[1]


def test_missing_file_exit_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.fcs")]) == 2
    assert "not found" in capsys.readouterr().err


def test_never_reads_data(tmp_path, monkeypatch, capsys):
    """A 5 GB file (sparse here): info answers from HEADER and TEXT only."""
    n_events = 5 * 1024**3 // 80
    begin, nbytes = 4096, n_events * 80
    pairs = params(n_events, [(f"C{j}", 32, "262144") for j in range(20)], **{"$DATATYPE": "F", "$BYTEORD": "1,2,3,4"})
    pairs += [("$BEGINDATA", str(begin)), ("$ENDDATA", str(begin + nbytes - 1))]
    content = build_fcs(pairs, b"", header_offsets=False, text_offsets=False)
    path = tmp_path / "huge.fcs"
    with open(path, "wb") as handle:
        handle.write(content.ljust(begin, b" "))
        handle.truncate(begin + nbytes)
    monkeypatch.setattr(decode_module, "read_uniform", lambda *a, **k: pytest.fail("DATA was read"))
    monkeypatch.setattr(sample_module.np, "memmap", lambda *a, **k: pytest.fail("DATA was mapped"))
    assert main(["info", "--json", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)[0]
    assert info["n_events"] == n_events and info["n_channels"] == 20


def test_header_only_corpus_file(capsys):
    path = corpus_path("eyurtsev+fcsparser/fcsparser/tests/data/FlowCytometers/cytek-nl-2000/sample_header.fcs")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "20,000" in out and "$SPILLOVER, 22 channels" in out


def test_multi_dataset(capsys):
    path = corpus_path("whitews+FlowKit/data/multi_dataset_fcs/coulter.lmd")
    assert main(["info", "--dataset", "1", "--keywords", str(path)]) == 0
    out = capsys.readouterr().out
    assert "data set 2 of 2" in out and "FCS3.0" in out and "$NEXTDATA" in out
