"""DATA decoding on hand-built files: widths, byte orders, masking, packing, FCS 3.2, TEXT quirks."""

from __future__ import annotations

import numpy as np
import pytest
from fcs_builder import build_fcs, params

from cytogate.errors import FcsError
from cytogate.fcs import read_fcs, read_metadata


def _write(tmp_path, content: bytes, name="f.fcs"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _kw(n, specs, **extra):
    return params(n, specs) + [(k, v) for k, v in extra.items()]


@pytest.mark.parametrize("order,byteord", [(">", "4,3,2,1"), ("<", "1,2,3,4")])
@pytest.mark.parametrize("bits", [8, 16, 32, 64])
def test_uniform_integers_both_orders(tmp_path, bits, order, byteord):
    rng = np.random.default_rng(bits)
    top = 2**bits - 1
    values = rng.integers(0, top, size=(50, 3), dtype=np.uint64, endpoint=True)
    dtype = np.dtype(f"{order}u{bits // 8}")
    pairs = _kw(50, [("A", bits, str(2**bits))] * 3, **{"$DATATYPE": "I", "$BYTEORD": byteord})
    pairs = [(k, v) if not k.endswith("N") or not k.startswith("$P") else (k, f"{v}{k[2]}") for k, v in pairs]
    path = _write(tmp_path, build_fcs(pairs, values.astype(dtype).tobytes()))
    sample = read_fcs(path, scale=False)
    assert sample.events.dtype == np.float64
    np.testing.assert_array_equal(sample.events, values.astype(np.float64))
    np.testing.assert_array_equal(sample.column(1), values[:, 1].astype(np.float64))


def _int_bytes(values, width, little):
    out = bytearray()
    for v in values:
        out += int(v).to_bytes(width, "little" if little else "big")
    return bytes(out)


@pytest.mark.parametrize("little", [True, False])
def test_24_bit_and_mixed_widths(tmp_path, little):
    rng = np.random.default_rng(1)
    widths = [8, 24, 16, 32, 24]
    n = 40
    cols = [rng.integers(0, 2**w, size=n) for w in widths]
    data = b"".join(
        b"".join(int(cols[j][i]).to_bytes(w // 8, "little" if little else "big") for j, w in enumerate(widths))
        for i in range(n)
    )
    specs = [(f"P{j}", w, str(2**w)) for j, w in enumerate(widths)]
    pairs = _kw(n, specs, **{"$DATATYPE": "I", "$BYTEORD": "1,2,3,4" if little else "4,3,2,1"})
    path = _write(tmp_path, build_fcs(pairs, data))
    events = read_fcs(path).events
    np.testing.assert_array_equal(events, np.stack(cols, axis=1).astype(np.float64))


def test_masking_to_power_of_two_of_pnr(tmp_path):
    # $PnR 1000 -> mask 1023; $PnR 1024 -> 1023; $PnR 11209599 -> 2**24-1 (FlowIO example).
    values = np.array([[0xFC00 | 5, 0xFFFF, 142482809]], dtype=np.uint64)
    data = _int_bytes([values[0, 0]], 2, True) + _int_bytes([values[0, 1]], 2, True) + _int_bytes([values[0, 2]], 4, True)
    pairs = _kw(1, [("A", 16, "1000"), ("B", 16, "1024"), ("C", 32, "11209599")], **{"$DATATYPE": "I", "$BYTEORD": "1,2,3,4"})
    path = _write(tmp_path, build_fcs(pairs, data))
    assert read_fcs(path, scale=False).events.tolist() == [[5.0, 1023.0, 8265081.0]]


def test_ten_bit_packed(tmp_path):
    rng = np.random.default_rng(2)
    n, p = 13, 3
    values = rng.integers(0, 1024, size=(n, p))
    bits = "".join(format(int(v), "010b") for v in values.ravel())
    bits += "0" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big")
    pairs = _kw(n, [(f"FL{j}", 10, "1024") for j in range(p)], **{"$DATATYPE": "I", "$BYTEORD": "1,2"})
    path = _write(tmp_path, build_fcs(pairs, data, version="FCS2.0"))
    sample = read_fcs(path, scale=False)
    np.testing.assert_array_equal(sample.events, values.astype(np.float64))
    np.testing.assert_array_equal(sample.column("FL2"), values[:, 2].astype(np.float64))


@pytest.mark.parametrize("kind,bits,code", [("F", 32, "f4"), ("D", 64, "f8")])
@pytest.mark.parametrize("order,byteord", [(">", "4,3,2,1"), ("<", "1,2,3,4")])
def test_float_and_double(tmp_path, kind, bits, code, order, byteord):
    rng = np.random.default_rng(3)
    values = rng.normal(scale=1e4, size=(30, 4)).astype(code)
    values[0, 0] = np.nan
    pairs = _kw(30, [(f"C{j}", bits, "262144") for j in range(4)], **{"$DATATYPE": kind, "$BYTEORD": byteord})
    path = _write(tmp_path, build_fcs(pairs, values.astype(order + code).tobytes()))
    sample = read_fcs(path)
    assert sample.events.dtype == np.dtype(code).newbyteorder("=")
    np.testing.assert_array_equal(sample.events, values)


def test_permuted_byte_order(tmp_path):
    values = np.array([0x01020304, 0xA0B0C0D0], dtype=np.uint32)
    # $BYTEORD 3,4,1,2: stored bytes carry significance 3,4,1,2 (1 = least significant).
    data = b"".join(bytes([(v >> 16) & 0xFF, (v >> 24) & 0xFF, v & 0xFF, (v >> 8) & 0xFF]) for v in map(int, values))
    pairs = _kw(2, [("A", 32, str(2**32))], **{"$DATATYPE": "I", "$BYTEORD": "3,4,1,2"})
    path = _write(tmp_path, build_fcs(pairs, data))
    assert read_fcs(path).events[:, 0].tolist() == values.astype(float).tolist()


def test_fcs32_per_parameter_datatype(tmp_path):
    n = 5
    ints = np.arange(n, dtype="<u2") * 100
    floats = np.linspace(-1, 1, n).astype("<f4")
    doubles = np.linspace(1e-9, 1e9, n).astype("<f8")
    data = b"".join(ints[i].tobytes() + floats[i].tobytes() + doubles[i].tobytes() for i in range(n))
    pairs = _kw(n, [("I", 16, "1024"), ("F", 32, "1"), ("D", 64, "1")], **{"$DATATYPE": "I", "$BYTEORD": "1,2,3,4"})
    pairs += [("$P2DATATYPE", "F"), ("$P3DATATYPE", "D")]
    path = _write(tmp_path, build_fcs(pairs, data, version="FCS3.2"))
    sample = read_fcs(path)
    assert sample.version == "FCS3.2"
    np.testing.assert_array_equal(sample.events[:, 0], ints.astype(float))
    np.testing.assert_array_equal(sample.events[:, 1], floats.astype(float))
    np.testing.assert_array_equal(sample.events[:, 2], doubles)


def test_scaling_log_gain_timestep(tmp_path):
    raw = np.array([[0, 512, 100, 10], [1023, 256, 50, 20]], dtype="<u2")
    pairs = _kw(2, [("FL1", 16, "1024"), ("FL2", 16, "1024"), ("FSC", 16, "1024"), ("Time", 16, "1024")],
                **{"$DATATYPE": "I", "$BYTEORD": "1,2", "$TIMESTEP": "0.01"})
    pairs = [(k, {"$P1E": "4,0", "$P2E": "3,2"}.get(k, v)) for k, v in pairs] + [("$P3G", "4"), ("$P4G", "7")]
    path = _write(tmp_path, build_fcs(pairs, raw.tobytes()))
    events = read_fcs(path).events
    x = raw.astype(float)
    np.testing.assert_array_equal(events[:, 0], np.float_power(10.0, 4 * x[:, 0] / 1024))  # f2=0 read as 1
    np.testing.assert_array_equal(events[:, 1], np.float_power(10.0, 3 * x[:, 1] / 1024) * 2)
    np.testing.assert_array_equal(events[:, 2], x[:, 2] / 4)  # linear: divided by $PnG
    np.testing.assert_array_equal(events[:, 3], x[:, 3] * 0.01)  # time: $TIMESTEP, gain ignored
    np.testing.assert_array_equal(read_fcs(path, scale=False).events, x)


def test_float32_kept_when_scaling_is_identity(tmp_path):
    values = np.ones((3, 2), dtype="<f4")
    pairs = _kw(3, [("A", 32, "1"), ("Time", 32, "1")], **{"$DATATYPE": "F", "$BYTEORD": "1,2,3,4"})
    path = _write(tmp_path, build_fcs(pairs, values.tobytes()))
    assert read_fcs(path).events.dtype == np.float32
    path2 = _write(tmp_path, build_fcs(pairs + [("$TIMESTEP", "0.5")], values.tobytes()), "g.fcs")
    assert read_fcs(path2).events.dtype == np.float64
    assert read_fcs(path2, channels=["A"]).events.dtype == np.float32
    assert read_fcs(path2, scale=False).events.dtype == np.float32


def test_text_escaped_delimiter_and_empty_values(tmp_path):
    pairs = _kw(1, [("A/B", 16, "1024")], **{"$DATATYPE": "I", "$BYTEORD": "1,2", "NOTE": "x/y//z"})
    path = _write(tmp_path, build_fcs(pairs, b"\x01\x00"))
    sample = read_metadata(path)
    assert sample.channels == ("A/B",)
    assert sample.keywords["NOTE"] == "x/y//z"
    # Pre-FCS-3 style: a doubled delimiter is an empty value.
    plain = _kw(1, [("AB", 16, "1024")], **{"$DATATYPE": "I", "$BYTEORD": "1,2"}) + [("$P1S", "")]
    old = read_fcs(_write(tmp_path, build_fcs(plain, b"\x01\x00", escape=False, version="FCS2.0"), "legacy.fcs"))
    assert old.markers == (None,) and old.keywords["$P1S"] == ""
    assert old.events.tolist() == [[1.0]]


def test_text_without_final_delimiter(tmp_path):
    pairs = _kw(1, [("A", 16, "1024")], **{"$DATATYPE": "I", "$BYTEORD": "1,2", "LAST": "tail"})
    content = bytearray(build_fcs(pairs, b""))
    text_end = int(content[18:26])
    assert content[text_end : text_end + 1] == b"/"
    content[text_end : text_end + 1] = b" "  # the final delimiter becomes padding
    path = _write(tmp_path, bytes(content) + b"\x07\x00")
    sample = read_metadata(path)
    assert sample.keywords["LAST"].strip() == "tail"


def test_large_file_style_zero_header_offsets(tmp_path):
    values = np.arange(6, dtype="<f4").reshape(3, 2)
    pairs = _kw(3, [("A", 32, "8"), ("B", 32, "8")], **{"$DATATYPE": "F", "$BYTEORD": "1,2,3,4"})
    path = _write(tmp_path, build_fcs(pairs, values.tobytes(), header_offsets=False))
    np.testing.assert_array_equal(read_fcs(path).events, values)


def test_missing_tot_in_fcs2_counts_events_from_offsets(tmp_path):
    values = np.arange(8, dtype=">u2").reshape(4, 2)
    pairs = [p for p in _kw(4, [("A", 16, "1024"), ("B", 16, "1024")], **{"$DATATYPE": "I", "$BYTEORD": "4,3,2,1"}) if p[0] != "$TOT"]
    path = _write(tmp_path, build_fcs(pairs, values.tobytes(), version="FCS2.0", text_offsets=False))
    sample = read_fcs(path)
    assert sample.n_events == 4
    np.testing.assert_array_equal(sample.events, values.astype(float))


def test_zero_events(tmp_path):
    pairs = _kw(0, [("A", 32, "1")], **{"$DATATYPE": "F", "$BYTEORD": "1,2,3,4"})
    path = _write(tmp_path, build_fcs(pairs, b""))
    sample = read_fcs(path)
    assert sample.events.shape == (0, 1) and sample.column("A").shape == (0,)


def test_ascii_and_histogram_modes_are_clear_errors(tmp_path):
    pairs = _kw(1, [("A", 16, "1024")], **{"$DATATYPE": "A", "$BYTEORD": "1,2"})
    with pytest.raises(FcsError, match="ASCII"):
        read_fcs(_write(tmp_path, build_fcs(pairs, b"12")))
    pairs = [(k, "C" if k == "$MODE" else v) for k, v in _kw(1, [("A", 16, "1024")], **{"$DATATYPE": "I", "$BYTEORD": "1,2"})]
    with pytest.raises(FcsError, match="histogram"):
        read_fcs(_write(tmp_path, build_fcs(pairs, b"12"), "c.fcs"))
