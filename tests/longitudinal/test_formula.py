"""Formula parsing and design matrices of cytogate.longitudinal.formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cytogate.errors import ModelError
from cytogate.longitudinal.formula import Formula, Term, design_matrix, independent_columns, model_frame, natural_levels


def _terms(formula: Formula) -> list[tuple[str, ...]]:
    return [t.variables for t in formula.terms]


def test_star_expands_to_main_effects_and_interaction() -> None:
    f = Formula.parse("FEV1 ~ RACE + SEX + ARMCD*AVISIT")
    assert f.response == "FEV1"
    assert f.intercept
    assert _terms(f) == [("RACE",), ("SEX",), ("ARMCD",), ("AVISIT",), ("ARMCD", "AVISIT")]
    assert f.variables == ("RACE", "SEX", "ARMCD", "AVISIT")


def test_colon_is_interaction_only_and_minus_one_drops_intercept() -> None:
    f = Formula.parse("y ~ A:B - 1")
    assert _terms(f) == [("A", "B")]
    assert not f.intercept
    assert not Formula.parse("y ~ x + 0").intercept
    assert Formula.parse("y ~ x + 1").intercept


def test_three_way_star_and_removal_and_parentheses() -> None:
    f = Formula.parse("y ~ A*B*C - A:B:C")
    assert set(_terms(f)) == {("A",), ("B",), ("C",), ("A", "B"), ("A", "C"), ("B", "C")}
    g = Formula.parse("y ~ (A + B)*C")
    assert set(_terms(g)) == {("A",), ("B",), ("C",), ("A", "C"), ("B", "C")}


def test_backticks_allow_odd_column_names() -> None:
    f = Formula.parse("`CD268+ B` ~ `arm group` + x")
    assert f.response == "CD268+ B"
    assert _terms(f) == [("arm group",), ("x",)]


def test_intercept_only() -> None:
    f = Formula.parse("y ~ 1")
    assert f.terms == () and f.intercept


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("y + x", "'~'"),
        ("y ~ x ~ z", "'~'"),
        ("y z ~ x", "left of '~'"),
        ("y ~ x +", "missing"),
        ("y ~ x $ z", "cannot read"),
        ("y ~ 2", "0 and 1"),
        ("y ~ (A + B", "parenthesis"),
        ("y ~ 0", "nothing to fit"),
    ],
)
def test_bad_formulas_raise_model_error(text: str, fragment: str) -> None:
    with pytest.raises(ModelError, match=fragment):
        Formula.parse(text)


def test_natural_levels_sort_numbers_inside_text() -> None:
    assert natural_levels(["VIS10", "VIS2", "VIS1"]) == ["VIS1", "VIS2", "VIS10"]
    assert natural_levels([3, 1, 2, 1]) == [1, 2, 3]


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 24
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "arm": np.repeat(["PBO", "LOW", "HIGH"], 8),
            "visit": np.tile(["V1", "V2", "V3", "V4"], 6),
            "sex": np.tile(["F", "M", "M"], 8),
            "x": np.arange(n, dtype=float),
            "code": np.tile([1, 2], 12),
        }
    )


def test_treatment_coding_with_sas_default_reference(table: pd.DataFrame) -> None:
    x, info = design_matrix(table, "y ~ arm + x")
    # SAS's default reference is the last level in sorted order: PBO here.
    assert info.reference["arm"] == "PBO"
    assert info.column_names == ("(Intercept)", "arm[HIGH]", "arm[LOW]", "x")
    assert x.shape == (24, 4)
    np.testing.assert_array_equal(x[:, 1], (table["arm"] == "HIGH").to_numpy(float))
    np.testing.assert_array_equal(x[:, 3], table["x"].to_numpy())
    assert info.column_terms == (-1, 0, 0, 1)


def test_explicit_reference_and_interaction_columns(table: pd.DataFrame) -> None:
    x, info = design_matrix(table, "y ~ arm*visit", reference={"arm": "PBO", "visit": "V1"})
    assert x.shape[1] == 1 + 2 + 3 + 6
    assert np.linalg.matrix_rank(x) == x.shape[1]
    assert "arm[HIGH]:visit[V2]" in info.column_names
    col = info.column_names.index("arm[LOW]:visit[V4]")
    expected = ((table["arm"] == "LOW") & (table["visit"] == "V4")).to_numpy(float)
    np.testing.assert_array_equal(x[:, col], expected)


def test_cell_means_coding_without_intercept(table: pd.DataFrame) -> None:
    x, info = design_matrix(table, "y ~ arm:visit - 1")
    assert x.shape[1] == 12  # full indicators: no margin present
    np.testing.assert_array_equal(x.sum(axis=1), np.ones(24))


def test_numeric_column_as_factor(table: pd.DataFrame) -> None:
    x, info = design_matrix(table, "y ~ code", factors=["code"], reference={"code": 1})
    assert info.levels["code"] == (1, 2)
    assert info.column_names == ("(Intercept)", "code[2]")
    _, info2 = design_matrix(table, "y ~ code")
    assert "code" in info2.means  # numeric without the flag: a covariate


def test_reference_given_as_text_matches_numeric_level(table: pd.DataFrame) -> None:
    _, info = design_matrix(table, "y ~ code", factors=["code"], reference={"code": "2"})
    assert info.reference["code"] == 2


def test_categorical_dtype_keeps_its_level_order(table: pd.DataFrame) -> None:
    table = table.assign(arm=pd.Categorical(table["arm"], categories=["PBO", "LOW", "HIGH"]))
    _, info = design_matrix(table, "y ~ arm")
    assert info.levels["arm"] == ("PBO", "LOW", "HIGH")
    assert info.reference["arm"] == "HIGH"


def test_lsmeans_row_weights_levels_equally_and_covariates_at_mean(table: pd.DataFrame) -> None:
    _, info = design_matrix(table, "y ~ sex + x + arm*visit", reference={"arm": "PBO", "visit": "V1", "sex": "M"})
    row = dict(zip(info.column_names, info.row({"arm": "LOW", "visit": "V3"})))
    assert row["(Intercept)"] == 1.0
    assert row["sex[F]"] == pytest.approx(0.5)  # equal weights, not the observed 1/3
    assert row["x"] == pytest.approx(table["x"].mean())
    assert row["arm[LOW]"] == 1.0 and row["arm[HIGH]"] == 0.0
    assert row["arm[LOW]:visit[V3]"] == 1.0 and row["arm[LOW]:visit[V2]"] == 0.0
    averaged = dict(zip(info.column_names, info.row({"arm": "LOW"})))
    assert averaged["visit[V2]"] == pytest.approx(0.25)
    assert averaged["arm[LOW]:visit[V4]"] == pytest.approx(0.25)


def test_design_rows_reproduce_build(table: pd.DataFrame) -> None:
    x, info = design_matrix(table, "y ~ sex + x + arm*visit")
    for i in (0, 5, 17):
        setting = {k: table.loc[i, k] for k in ("sex", "x", "arm", "visit")}
        np.testing.assert_allclose(info.row(setting), x[i])


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"formula": "y ~ nope"}, "'nope'"),
        ({"formula": "y ~ arm", "reference": {"arm": "PLACEBO"}}, "'PLACEBO'"),
        ({"formula": "y ~ arm", "reference": {"visit": "V1"}}, "'visit'"),
    ],
)
def test_design_errors_name_the_column(table: pd.DataFrame, kwargs: dict, fragment: str) -> None:
    with pytest.raises(ModelError, match=fragment):
        design_matrix(table, **kwargs)


def test_row_rejects_unknown_level(table: pd.DataFrame) -> None:
    _, info = design_matrix(table, "y ~ arm")
    with pytest.raises(ModelError, match="'MID'"):
        info.row({"arm": "MID"})


def test_term_label() -> None:
    assert Term(("a", "b")).label == "a:b"
    assert Term(()).label == "(Intercept)"


def test_model_frame_drops_unusable_rows_and_names_missing_columns(table: pd.DataFrame) -> None:
    table = table.copy()
    table.loc[0, "y"] = np.nan
    table.loc[1, "y"] = np.inf
    table.loc[2, "sex"] = None
    formula = Formula.parse("y ~ sex + x")
    frame = model_frame(table, formula, {"subject": "arm"})
    assert len(frame) == len(table) - 3
    assert list(frame.columns) == ["y", "arm", "sex", "x"]
    with pytest.raises(ModelError, match="subject column 'patient'"):
        model_frame(table, formula, {"subject": "patient"})
    with pytest.raises(ModelError, match="not numeric"):
        model_frame(table, Formula.parse("sex ~ x"))
    with pytest.raises(ModelError, match="DataFrame"):
        model_frame(table.to_dict(), formula)  # type: ignore[arg-type]


def test_independent_columns_keeps_the_first_of_aliased_columns() -> None:
    x = np.column_stack([np.ones(6), [1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], np.arange(6.0), np.zeros(6)])
    np.testing.assert_array_equal(independent_columns(x), [True, True, False, True, False])
