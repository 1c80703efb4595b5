"""Small FlowJo 9 (Mac) workspaces and matching FCS files, with counts worked out by hand.

Events sit in clusters of identical events at chosen positions (true,
compensated values); the raw values written to the file are ``true @ SPILL``,
so gates on ``<FITC-A>`` etc. see the chosen positions after compensation.

Clusters (FSC-A, SSC-A, FITC, PE, APC):

=====  ======  ======  =====  =====  =====  =========================================
name   FSC-A   SSC-A   FITC   PE     APC    where it falls (sample 1's tree)
=====  ======  ======  =====  =====  =====  =========================================
A      50000   30000   1000   1000   5000   Lymph, Core, FITC+PE+, APC+
B      50000   30000   100    100    50     Lymph, Core, Tri
C      50000   30000   3000   3000   5000   Lymph, Core, APC+
D      150000  30000   1000   1000   5000   nothing (outside Lymph)
E      35000   22000   1000   1000   50     Lymph, FITC+PE+ (outside the Core ellipse)
=====  ======  ======  =====  =====  =====  =========================================

``Tri`` is a triangle drawn on log axes with corners (10, 10), (10000, 10),
(10, 10000): on the display its long edge is ``log x + log y = 5``, so B
(sum 4) is inside and A and E (sum 6) are outside, although A and E lie
inside the same triangle in raw data units (1000 + 1000 < 10010).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cytogate.fcs import write_fcs

CHANNELS = ["FSC-A", "SSC-A", "FITC-A", "PE-A", "APC-A"]
CLUSTERS = {
    "A": (50000, 30000, 1000, 1000, 5000),
    "B": (50000, 30000, 100, 100, 50),
    "C": (50000, 30000, 3000, 3000, 5000),
    "D": (150000, 30000, 1000, 1000, 5000),
    "E": (35000, 22000, 1000, 1000, 50),
}
FLUORS = ["FITC-A", "PE-A", "APC-A"]
SPILL = np.array([[1.0, 0.1, 0.0], [0.05, 1.0, 0.02], [0.0, 0.0, 1.0]])  # rows: fluorochrome, columns: detector


def write_sample(path: Path, sizes: dict[str, int], *, fil: str, spill_keyword: bool = False) -> Path:
    """An FCS file holding ``sizes[c]`` events of each cluster ``c`` (raw = true @ SPILL)."""
    rows = [np.array(CLUSTERS[c], dtype=float) for c, n in sizes.items() for _ in range(n)]
    events = np.vstack(rows)
    events[:, 2:] = events[:, 2:] @ SPILL
    keywords = {"$FIL": fil} if fil else {}
    if spill_keyword:
        values = ",".join(f"{v:g}" for v in SPILL.ravel())
        keywords["$SPILLOVER"] = f"3,{','.join(FLUORS)},{values}"
    return write_fcs(path, events.astype(np.float32), CHANNELS, keywords=keywords)


def _shape(kind: str, x: str, y: str | None, points: list[tuple[float, float]], extra: str = "") -> str:
    y_attr = f' yAxisName="{y}"' if y else ""
    vertices = "".join(f'<Vertex x="{px}" y="{py}"/>' for px, py in points)
    return (f"<PolygonGate><ParameterNames/><Graph/><{kind} xAxisName=\"{x}\"{y_attr}{extra}>"
            f"<Polygon>{vertices}</Polygon></{kind}></PolygonGate>")


def _boolean(spec: str, paths: list[str]) -> str:
    strings = "".join(f"<String>{p}</String>" for p in paths)
    return f'<BooleanGate specification="{spec}"><GatePaths><StringArray>{strings}</StringArray></GatePaths></BooleanGate>'


def population(name: str, count: int, gate: str, children: str = "") -> str:
    return f'<Population name="{name}" count="{count}">{gate}{children}</Population>'


def polygon(x: str, y: str, points: list[tuple[float, float]]) -> str:
    return _shape("Polygon", x, y, points)


def polyrect(x: str, y: str, corners: list[tuple[float, float]]) -> str:
    return _shape("PolyRect", x, y, corners)


def range_gate(x: str, lo: float, hi: float) -> str:
    return _shape("Range", x, None, [(lo, 0), (hi, 0)])


def ellipse(x: str, y: str, points: list[tuple[float, float]]) -> str:
    return _shape("Ellipse", x, y, points)


def boolean(spec: str, paths: list[str]) -> str:
    return _boolean(spec, paths)


LYMPH = [(20000, 10000), (80000, 10000), (80000, 50000), (20000, 50000)]
CORE = [(30000, 30000), (70000, 30000), (50000, 20000), (50000, 40000)]  # two diameters of an ellipse
TRIANGLE = [(10, 10), (10000, 10), (10, 10000)]


def tree_one(sizes: dict[str, int]) -> str:
    """Sample 1's tree; counts worked out from the cluster table."""
    n = sizes
    children = "".join([
        population("Core", n["A"] + n["B"] + n["C"], ellipse("FSC-A", "SSC-A", CORE)),
        population("FITC+PE+", n["A"] + n["E"], polyrect("&lt;FITC-A&gt;", "&lt;PE-A&gt;", [(500, 500), (2000, 2000)])),
        population("Tri", n["B"], polygon("&lt;FITC-A&gt;", "&lt;PE-A&gt;", TRIANGLE)),
        population("APC+", n["A"] + n["C"], range_gate("&lt;APC-A&gt;", 1000, 100000)),
        population("FP not APC", n["E"], boolean("G0 &amp; !G1", ["Lymph/FITC+PE+", "Lymph/APC+"])),
        population("Tri or APC", n["A"] + n["B"] + n["C"], boolean("G0 | G1", ["Tri", "/Lymph/APC+"])),
    ])
    return population("Lymph", n["A"] + n["B"] + n["C"] + n["E"], polygon("FSC-A", "SSC-A", LYMPH), children)


def tree_two(sizes: dict[str, int]) -> str:
    """Sample 2's own, different tree: a narrower Lymph gate (E falls out) and one child."""
    n = sizes
    narrow = [(40000, 10000), (80000, 10000), (80000, 50000), (40000, 50000)]
    child = population("APC+", n["A"] + n["C"], range_gate("&lt;APC-A&gt;", 1000, 100000))
    return population("Lymph", n["A"] + n["B"] + n["C"], polygon("FSC-A", "SSC-A", narrow), child)


PARAMETERS = ('<Parameter name="FSC-A" log="0" range="4096" highValue="262144"/>'
              '<Parameter name="SSC-A" log="0" range="4096" highValue="262144"/>'
              '<Parameter name="FITC-A" log="1" range="4096" highValue="262144"/>'
              '<Parameter name="PE-A" log="1" range="4096" highValue="262144"/>'
              '<Parameter name="APC-A" log="1" range="4096" highValue="262144"/>')


def matrix_xml(name: str = "Comp Matrix") -> str:
    rows = "".join(
        f'<Channel name="{f}">' + "".join(f'<ChannelValue name="{d}" value="{SPILL[i, j]:g}"/>'
                                            for j, d in enumerate(FLUORS)) + "</Channel>"
        for i, f in enumerate(FLUORS))
    return (f'<CompensationMatrices><CompensationMatrix name="{name}" prefix="&lt;" suffix="&gt;">{rows}'
            "</CompensationMatrix></CompensationMatrices>")


def sample_xml(sid: str, name: str, count: int, tree: str, *, fil: str | None = None, uri: str | None = None,
               compensation: str = "1", parameters: str = PARAMETERS) -> str:
    keywords = f'<Keywords><Keyword name="$FIL" value="{fil}"/></Keywords>' if fil else "<Keywords/>"
    return (f'<Sample sampleID="{sid}"><DataSet uri="{uri or "file:///Users/lab/" + name}" sampleID="{sid}"/>'
            f'{keywords}<SampleNode name="{name}" count="{count}" sampleID="{sid}" compensationID="{compensation}">'
            f"{parameters}{tree}</SampleNode></Sample>")


def workspace_xml(samples: list[str], *, tables: str = "", matrices: str | None = None, version: str = "2.0",
                  groups: str | None = None) -> str:
    refs = "".join(f'<SampleRef sampleID="{i + 1}"/>' for i in range(len(samples)))
    groups = groups if groups is not None else (
        f'<Groups><GroupNode name="All Samples"><Group><SampleRefs>{refs}</SampleRefs></Group></GroupNode>'
        '<GroupNode name="Second"><Group><SampleRefs><SampleRef sampleID="2"/></SampleRefs></Group>'
        f"{tree_two(SIZES_TWO)}</GroupNode></Groups>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Workspace version="{version}" flowJoVersion="9.9.6">'
            f"{matrix_xml() if matrices is None else matrices}"
            f"<CalibrationTables>{tables}</CalibrationTables>{groups}"
            f"<SampleList>{''.join(samples)}</SampleList></Workspace>\n")


SIZES_ONE = {"A": 40, "B": 25, "C": 15, "D": 10, "E": 7}
SIZES_TWO = {"A": 30, "B": 20, "C": 12, "D": 9, "E": 11}


def two_sample_study(folder: Path) -> tuple[Path, Path, Path]:
    """A workspace of two samples with different trees, and their two files (named as $FIL says)."""
    one = write_sample(folder / "tube1.fcs", SIZES_ONE, fil="tube1.fcs")
    two = write_sample(folder / "tube2.fcs", SIZES_TWO, fil="tube2.fcs")
    xml = workspace_xml([
        sample_xml("1", "tube1.fcs", sum(SIZES_ONE.values()), tree_one(SIZES_ONE), fil="tube1.fcs"),
        sample_xml("2", "tube2.fcs", sum(SIZES_TWO.values()), tree_two(SIZES_TWO), fil="tube2.fcs"),
    ])
    wsp = folder / "study.xml"
    wsp.write_text(xml, encoding="utf-8")
    return wsp, one, two


def expected_one(sizes: dict[str, int] = SIZES_ONE) -> dict[str, int]:
    n = sizes
    return {"/Lymph": n["A"] + n["B"] + n["C"] + n["E"], "/Lymph/Core": n["A"] + n["B"] + n["C"],
            "/Lymph/FITC+PE+": n["A"] + n["E"], "/Lymph/Tri": n["B"], "/Lymph/APC+": n["A"] + n["C"],
            "/Lymph/FP not APC": n["E"], "/Lymph/Tri or APC": n["A"] + n["B"] + n["C"]}


def expected_two(sizes: dict[str, int] = SIZES_TWO) -> dict[str, int]:
    n = sizes
    return {"/Lymph": n["A"] + n["B"] + n["C"], "/Lymph/APC+": n["A"] + n["C"]}
