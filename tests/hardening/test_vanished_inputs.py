"""Inputs that vanish after they were opened, and outputs that cannot be written.

A file deleted between ``read_fcs`` (which parses HEADER and TEXT) and the
first access to its events gives an FcsError naming the file, never a raw
OSError; an output folder whose lock cannot be taken gives an OutputError
naming the folder (exit code 2 through the command line).
"""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from cytogate.batch.lock import OutputLock
from cytogate.errors import FcsError, OutputError
from cytogate.fcs import read_fcs, read_metadata, write_fcs


@pytest.fixture
def fcs_file(tmp_path):
    events = np.arange(40, dtype=np.float32).reshape(10, 4)
    return write_fcs(tmp_path / "gone.fcs", events, ["FSC-A", "SSC-A", "FL1-A", "FL2-A"])


@pytest.mark.parametrize("access", [
    lambda s: s.events,
    lambda s: s.column(1),
    lambda s: s.sha256(),
    lambda s: next(iter(s.blocks(4))),
], ids=["events", "column", "sha256", "blocks"])
def test_file_deleted_after_read_fcs_is_an_fcs_error(fcs_file, access):
    sample = read_fcs(fcs_file)
    os.unlink(fcs_file)
    with pytest.raises(FcsError) as info:
        access(sample)
    assert str(fcs_file) in str(info.value)


def test_file_deleted_after_read_metadata_is_an_fcs_error(fcs_file):
    sample = read_metadata(fcs_file)
    os.unlink(fcs_file)
    with pytest.raises(FcsError) as info:
        sample.sha256()
    assert str(fcs_file) in str(info.value)


def _fail_with(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fail


@pytest.mark.parametrize("where,code", [("mkdir", errno.EROFS), ("open", errno.EACCES), ("pwrite", errno.ENOSPC)])
def test_lock_that_cannot_be_written_is_an_output_error(tmp_path, monkeypatch, where, code):
    """Injected failures, so the check runs without root or a tmpfs (the crash suite uses real ones)."""
    out = tmp_path / "out"
    if where == "mkdir":
        monkeypatch.setattr("pathlib.Path.mkdir", _fail_with(code))
    else:
        monkeypatch.setattr(f"cytogate.batch.lock.os.{where}", _fail_with(code))
    with pytest.raises(OutputError, match=os.strerror(code)) as info:
        OutputLock(out).acquire()
    message = str(info.value)
    assert message.startswith(f"{out}: cannot write to the output folder") and "\n" not in message
    monkeypatch.undo()
    with OutputLock(out) as lock:  # nothing was left locked or open
        assert lock.fd is not None
