"""`cytogate edit` as a user starts it: a real uvicorn server on 127.0.0.1, stopped with Ctrl-C."""
# ruff: noqa: F811  (the fixtures imported from edit_helpers are taken as test arguments)

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from edit_helpers import samples, t_cells_file  # noqa: F401 (pytest fixtures, used as arguments)

import cytogate
from cytogate.cli import main


def start(strategy: Path, samples: list[Path]) -> tuple[subprocess.Popen, str]:
    args = [sys.executable, "-m", "cytogate", "edit", str(strategy), "--no-browser", "--port", "0"]
    for s in samples:
        args += ["--fcs", str(s)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    match = re.fullmatch(r"cytogate edit: (http://127\.0\.0\.1:(\d+)/\?token=([\w-]+))\n", first)
    if match is None:
        proc.kill()
        err = proc.communicate()[1]
        pytest.fail(f"unexpected first line {first!r}; stderr: {err}")
    return proc, match.group(1)


def fetch(url: str, data: bytes | None = None, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serves_with_a_token_and_stops_on_ctrl_c(t_cells_file, samples):
    proc, url = start(t_cells_file, samples)
    try:
        base, token = url.split("/?token=")
        assert fetch(base + "/")[0] == 403
        assert fetch(base + "/api/populations")[0] == 403
        assert fetch(base + "/api/populations?token=" + token[:-1])[0] == 403
        status, page = fetch(url)
        assert status == 200 and b"editor.js" in page
        status, body = fetch(f"{base}/api/populations?token={token}")
        listing = json.loads(body)
        assert status == 200 and listing[0]["path"] == "/Cells" and listing[0]["count"] > 0
        status, body = fetch(f"{base}/api/populations/Cells%2FSinglets%2FLive%2FLeukocytes?token={token}",
                             json.dumps({"gate": {"range": {"CD45": {"min": 0.5}}}}).encode(), "PUT")
        assert status == 200
        status, body = fetch(f"{base}/api/save?token={token}", b"{}", "POST")
        assert status == 200 and json.loads(body)["path"] == str(t_cells_file)
        saved = cytogate.load_strategy(t_cells_file).by_path["/Cells/Singlets/Live/Leukocytes"].gate
        assert not saved.needs_fit and saved.mins == (0.5,)
        assert "min: 0.5" in t_cells_file.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            err = proc.stderr.read()
            proc.stdout.close()
            proc.stderr.close()
    assert code == 0, err
    assert "stopped" in err


def test_bad_input_is_one_line_and_exit_2(tmp_path, samples, capsys):
    assert main(["edit", str(tmp_path / "x.yaml"), "--fcs", str(tmp_path / "missing.fcs"), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.fcs" in err[0]
    bad = tmp_path / "bad.yaml"
    bad.write_text("cytogate_strategy: 1\npopulations:\n  A: {range: {CD3: {min: oops}}}\n")
    assert main(["edit", str(bad), "--fcs", str(samples[0]), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.yaml:3:" in err[0]
