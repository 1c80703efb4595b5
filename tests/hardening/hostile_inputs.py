"""Builders of hostile strategy files and a CLI runner (a helper for the hardening tests, not a test module)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GML_NS = ('xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating" '
          'xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes" '
          'xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations"')


def gml_rect(gate_id: str, *, parent: str | None = None, low: str = "1", channel: str = "FSC-A") -> str:
    par = f' gating:parent_id="{parent}"' if parent else ""
    return (f'<gating:RectangleGate gating:id="{gate_id}"{par}><gating:dimension gating:min="{low}">'
            f'<data-type:fcs-dimension data-type:name="{channel}"/></gating:dimension></gating:RectangleGate>')


def gatingml(body: str, doctype: str = "") -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}<gating:Gating-ML {GML_NS}>{body}</gating:Gating-ML>\n'


def wsp_population(name: str, inner: str = "", *, low: str = "1", count: str = "5") -> str:
    return (f'<Population name="{name}" count="{count}"><Gate><gating:RectangleGate gating:id="{name}">'
            f'<gating:dimension gating:min="{low}"><data-type:fcs-dimension data-type:name="FSC-A"/>'
            f'</gating:dimension></gating:RectangleGate></Gate><Subpopulations>{inner}</Subpopulations></Population>')


def wsp(populations: str, doctype: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}<Workspace {GML_NS}><SampleList><Sample>'
            f'<DataSet sampleID="1" uri="file:a.fcs"/><SampleNode name="a.fcs" sampleID="1" count="10">'
            f'<Subpopulations>{populations}</Subpopulations></SampleNode></Sample></SampleList></Workspace>\n')


def nested_populations(depth: int) -> str:
    """A chain of ``depth`` FlowJo populations, each the child of the previous one."""
    opening = "".join(
        f'<Population name="p{i}" count="1"><Gate><gating:RectangleGate gating:id="p{i}"><gating:dimension '
        f'gating:min="1"><data-type:fcs-dimension data-type:name="FSC-A"/></gating:dimension>'
        f"</gating:RectangleGate></Gate><Subpopulations>" for i in range(depth)
    )
    return opening + "</Subpopulations></Population>" * depth


# -- the classic XML attacks, as DOCTYPE prologues and the entity reference that triggers them --
def xxe_doctype(root: str, target: str = "file:///etc/passwd") -> str:
    return f'<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "{target}">]>\n'


def billion_laughs_doctype(root: str, levels: int = 10) -> str:
    entities = '<!ENTITY l0 "lol">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, levels)
    )
    return f"<!DOCTYPE {root} [{entities}]>\n"


def quadratic_doctype(root: str, size: int = 100_000) -> str:
    return f'<!DOCTYPE {root} [<!ENTITY a "{"x" * size}">]>\n'


def deep_elements(depth: int, tag: str = "junk") -> str:
    return f"<{tag}>" * depth + f"</{tag}>" * depth


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str | os.PathLike[str], cwd: Path | None = None, timeout: float = 120) -> CliResult:
    """Run ``python -m cytogate ARGS`` in a fresh interpreter (a hang fails the test via the timeout)."""
    proc = subprocess.run([sys.executable, "-m", "cytogate", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=dict(os.environ, PYTHONWARNINGS="default"))
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_refusal(result: CliResult, *, code: int = 2) -> str:
    """Exit ``code`` with one ``cytogate: error:`` line and no traceback; returns that line."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.code == code, f"exit {result.code}, stderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in lines if line.startswith("cytogate: error:")]
    assert len(errors) == 1, f"expected one error line, stderr:\n{result.stderr}"
    return errors[0]


def small_fcs(path: Path, n: int = 200, seed: int = 0) -> Path:
    """A small float32 FCS file with FSC-A, SSC-A and FL1-A."""
    from cytogate.fcs import write_fcs

    rng = np.random.default_rng(seed)
    events = rng.uniform(0, 1000, size=(n, 3)).astype(np.float32)
    return write_fcs(path, events, ["FSC-A", "SSC-A", "FL1-A"])
