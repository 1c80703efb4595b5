"""Byte-level mutations of every corpus FCS/LMD file: read_fcs/read_metadata return or raise FcsError.

Each case runs in a worker subprocess (``fuzz_worker.py``) under a wall-clock
limit and with its ``tracemalloc`` peak checked against a bound proportional
to the file size and the decoded events (see ``fuzz_harness.CaseResult``).
A deterministic sample of the mutations runs in the normal suite; ``make fuzz``
(``-m slow``) runs every mutation of every file with more random flips and
prints how many cases ran.
"""

from __future__ import annotations

import os
import random
import warnings
from collections import Counter
from pathlib import Path

import pytest
from conftest import CORPUS
from fcs_mutations import all_cases, corpus_fcs_files, rewrite
from fuzz_harness import FuzzRunner

from cytogate.errors import FcsError, FcsWarning
from cytogate.fcs import read_fcs, read_metadata

FILES = corpus_fcs_files(CORPUS) if CORPUS.is_dir() else []
_IDS = [str(p.relative_to(CORPUS)) for p in FILES]
PER_FILE_QUICK = 14  # mutations per corpus file in the normal suite (~500 cases, well under a minute)
CAMPAIGN_SCALE = int(os.environ.get("CYTOGATE_FUZZ_SCALE", "1"))

needs_corpus = pytest.mark.skipif(not FILES, reason=f"conformance corpus not found at {CORPUS}")


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    with FuzzRunner(tmp_path_factory.mktemp("fuzz")) as fuzz:
        yield fuzz


def _check(runner: FuzzRunner, cases, prefix: str) -> Counter:
    outcomes: Counter = Counter()
    problems = []
    for label, content in cases:
        result = runner.run_bytes(content, f"{prefix}: {label}")
        outcomes[result.outcome] += 1
        problem = result.problem()
        if problem:
            problems.append(problem)
    assert not problems, f"{len(problems)} misbehaving case(s):\n" + "\n".join(p[:1500] for p in problems[:10])
    return outcomes


@needs_corpus
@pytest.mark.corpus
@pytest.mark.parametrize("index", range(len(FILES)), ids=_IDS)
def test_mutations_of_corpus_file(runner, index):
    path = FILES[index]
    content = path.read_bytes()
    cases = all_cases(content, seed=index, flips=12, truncations=4, garbage=6)
    chosen = random.Random(1000 + index).sample(cases, min(PER_FILE_QUICK, len(cases)))
    outcomes = _check(runner, [("unmodified", content), *chosen], _IDS[index])
    assert sum(outcomes.values()) == len(chosen) + 1


@needs_corpus
@pytest.mark.corpus
@pytest.mark.slow
def test_mutation_campaign(runner, capsys):
    """Every mutation of every corpus file (``make fuzz``); CYTOGATE_FUZZ_SCALE multiplies the random ones."""
    total: Counter = Counter()
    for index, path in enumerate(FILES):
        content = path.read_bytes()
        for round_ in range(CAMPAIGN_SCALE):
            cases = all_cases(content, seed=index + 7919 * round_, flips=40, truncations=10, garbage=20)
            if round_:
                cases = [c for c in cases if not c[0].startswith(("HEADER", "$", "delete", "version"))] or cases
            total += _check(runner, cases, _IDS[index])
    with capsys.disabled():
        print(f"\nFCS mutation campaign: {sum(total.values())} cases over {len(FILES)} corpus files "
              f"({total['ok']} read, {total['fcs_error']} FcsError)")
    assert sum(total.values()) > 1000


# -- regressions: cases the fuzzer found, pinned in-process ---------------------------------


def _corpus_file(name: str):
    hits = [p for p in FILES if p.name == name]
    if not hits:
        pytest.skip(f"corpus file {name} not found under {CORPUS}")
    return hits[0]


@needs_corpus
def test_signalling_nan_payloads_decode_without_numpy_warnings(tmp_path):
    """Found by fuzzing: $BYTEORD 1,2,3 on float DATA gave sNaN bit patterns and a numpy RuntimeWarning."""
    content = rewrite(_corpus_file("facs_diva_test.fcs").read_bytes(), {"$BYTEORD": "1,2,3"})
    path = tmp_path / "snan.fcs"
    path.write_bytes(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", FcsWarning)
        sample = read_fcs(path)
        assert sample.events.shape == (sample.n_events, len(sample.channels))
        sample2 = read_fcs(path)
        for i in range(len(sample2.channels)):
            sample2.column(i)


@needs_corpus
@pytest.mark.parametrize("pne,pnr", [("1e308,1", None), ("400,1", None), ("4,0", "1")])
def test_overflowing_log_amplification_warns_with_fcs_warning(tmp_path, pne, pnr):
    """Found by fuzzing: an absurd $P1E overflowed float64 with a bare numpy RuntimeWarning."""
    source = _corpus_file("data1.fcs").read_bytes()
    edits = {"$P1E": pne, **({"$P1R": pnr} if pnr else {})}
    path = tmp_path / "overflow.fcs"
    path.write_bytes(rewrite(source, edits))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.warns(FcsWarning, match=r"\$P1E .* overflows float64"):
            events = read_fcs(path).events
    assert events.shape[0] > 0


@needs_corpus
def test_absurd_tot_in_a_real_file_is_refused_before_allocating(tmp_path):
    path = tmp_path / "tot.fcs"
    path.write_bytes(rewrite(_corpus_file("test_data_2d_01.fcs").read_bytes(), {"$TOT": "1000000000000"}))
    with pytest.raises(FcsError, match=r"\$TOT 1000000000000 .* need .* bytes") as info:
        read_fcs(path)
    assert str(path) in str(info.value)


# -- the harness itself: it must really measure memory and really stop a hang ----------------


@needs_corpus
def test_harness_measures_the_decoded_events(runner):
    path = _corpus_file("test_data_2d_01.fcs")
    result = runner.run_path(path, "unmodified test_data_2d_01.fcs")
    assert result.outcome == "ok", result.detail
    assert result.out_bytes == 10_000 * 2 * 4  # float32 events, identity scaling
    assert result.out_bytes <= result.peak <= result.memory_bound


def test_harness_kills_a_hanging_case(tmp_path):
    """A case that does not answer in time is stopped and reported as 'timeout'; a fresh worker takes over."""
    with FuzzRunner(tmp_path, seconds=1) as fuzz:
        fuzz.run_bytes(b"warm-up", "warm-up")  # pays the worker start-up outside the 1 s limit
        result = fuzz.run_path(Path("sleep:60"), "sleeps for a minute")
        assert result.outcome == "timeout"
        assert fuzz.run_bytes(b"FCS3.1", "after the timeout").outcome == "fcs_error"


def test_fifo_is_refused_not_waited_on(tmp_path, runner):
    """Found while testing the harness: read_fcs on a FIFO blocked forever in open()."""
    fifo = tmp_path / "pipe.fcs"
    os.mkfifo(fifo)
    result = runner.run_path(fifo, "fifo")
    assert result.outcome == "fcs_error" and "not a regular file" in result.detail, result


@pytest.mark.parametrize(
    "name,match",
    [("a\x00b.fcs", "NUL byte"), ("x" * 5000 + ".fcs", "unusable file name"), ("/dev/null", "not a regular file"),
     ("/proc/self/mem", "cannot read")],
    ids=["nul-byte", "name-too-long", "device", "unreadable"],
)
def test_hostile_paths_are_fcs_errors(name, match):
    """Found by this suite: a NUL byte raised ValueError, an I/O error while reading raised OSError."""
    if not os.path.exists(name.split("\x00")[0]) and name.startswith("/"):
        pytest.skip(f"{name} does not exist on this system")
    for reader in (read_fcs, read_metadata):
        with pytest.raises(FcsError, match=match):
            reader(name)


@needs_corpus
def test_cli_info_on_mutated_files_exits_2_with_one_line(tmp_path):
    from hostile_inputs import assert_clean_refusal, run_cli

    content = _corpus_file("data1.fcs").read_bytes()
    bad = tmp_path / "truncated.fcs"
    bad.write_bytes(content[:300])  # cut inside TEXT: even the metadata cannot be read
    line = assert_clean_refusal(run_cli("info", bad))
    assert str(bad) in line and "truncated" in line
