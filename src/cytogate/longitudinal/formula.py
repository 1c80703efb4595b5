"""Model formulas and design matrices for the longitudinal models.

A deliberately small formula language, enough for the fixed effects of an
MMRM or an ANCOVA::

    FEV1 ~ RACE + SEX + ARMCD*AVISIT      # A*B expands to A + B + A:B
    y ~ x + ARM:VISIT - 1                 # A:B is the interaction only; -1 (or +0) drops the intercept

Variables are columns.  A column is a *factor* (categorical) when its dtype is
not numeric or when it is named in ``factors``; otherwise it is a numeric
covariate.  Factors use treatment coding against a reference level, which is
SAS's default (the last level in sorted order) unless ``reference`` names one.
Within a term, a factor is coded by contrasts (reference column dropped) when
the term without that factor is also in the model (the intercept counts as the
empty term), and by full indicators otherwise; this keeps the design of full
rank for the usual hierarchical models and reproduces SAS's "reference level =
0" solution.

:class:`DesignInfo` remembers levels, references, covariate means and which
columns belong to which term, so that LS-means rows (equal weights over factor
levels not named, numeric covariates at their mean) can be built later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelError

__all__ = ["Formula", "Term", "DesignInfo", "design_matrix", "independent_columns", "model_frame", "natural_levels"]

_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*|`[^`]+`"
_TOKEN = re.compile(rf"\s*(?:({_NAME})|(\d+)|([~+*:\-()]))")


@dataclass(frozen=True)
class Term:
    """One model term: the variables it multiplies (empty tuple = intercept)."""

    variables: tuple[str, ...]

    @property
    def label(self) -> str:
        return ":".join(self.variables) if self.variables else "(Intercept)"


@dataclass(frozen=True)
class Formula:
    """A parsed formula ``response ~ terms``.

    Parameters
    ----------
    response : str
        Column of the dependent variable.
    terms : tuple of Term
        Fixed-effect terms in order of first appearance, without the intercept.
    intercept : bool
        Whether the model has an intercept.
    """

    response: str
    terms: tuple[Term, ...]
    intercept: bool = True

    def __post_init__(self) -> None:
        if not self.response:
            raise ModelError("formula has no response (expected 'y ~ terms')")
        if not self.terms and not self.intercept:
            raise ModelError(f"formula for {self.response!r} has no terms and no intercept: nothing to fit")

    @classmethod
    def parse(cls, text: str) -> Formula:
        """Parse ``"y ~ A + B + A*B + A:B + x - 1"``; raises ModelError on bad syntax."""
        tokens = _tokenize(text)
        if tokens.count(("op", "~")) != 1:
            raise ModelError(f"formula {text!r} must contain exactly one '~' (response ~ terms)")
        split = tokens.index(("op", "~"))
        lhs, rhs = tokens[:split], tokens[split + 1 :]
        if len(lhs) != 1 or lhs[0][0] != "name":
            raise ModelError(f"formula {text!r}: the left of '~' must be one column name")
        parser = _Parser(rhs, text)
        added, removed, intercept = parser.parse()
        terms: list[Term] = []
        for term in added:
            if term not in terms and term not in removed and term.variables:
                terms.append(term)
        return cls(response=lhs[0][1], terms=tuple(terms), intercept=intercept)

    @property
    def variables(self) -> tuple[str, ...]:
        """Every column the right-hand side uses, in order of first appearance."""
        seen: list[str] = []
        for term in self.terms:
            for name in term.variables:
                if name not in seen:
                    seen.append(name)
        return tuple(seen)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ModelError(f"formula {text!r}: cannot read {text[pos:].strip()!r} (character {pos + 1})")
        name, number, op = match.groups()
        if name is not None:
            tokens.append(("name", name.strip("`")))
        elif number is not None:
            tokens.append(("num", number))
        else:
            tokens.append(("op", op))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over ``sum := prod (('+'|'-') prod)*; prod := atom (('*'|':') atom)*``."""

    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.text = text

    def _error(self, what: str) -> ModelError:
        return ModelError(f"formula {self.text!r}: {what}")

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self) -> tuple[list[Term], list[Term], bool]:
        if not self.tokens:
            raise self._error("nothing after '~'")
        added: list[Term] = []
        removed: list[Term] = []
        intercept = True
        sign = "+"
        while True:
            tok = self._peek()
            if tok in (("op", "+"), ("op", "-")):
                sign = tok[1]
                self.pos += 1
                tok = self._peek()
            if tok is None:
                raise self._error("a term is missing at the end")
            if tok[0] == "num":
                self.pos += 1
                if tok[1] not in ("0", "1"):
                    raise self._error(f"the only numbers allowed are 0 and 1, not {tok[1]}")
                intercept = (tok[1] == "1") == (sign == "+")
            else:
                terms = self._product()
                (added if sign == "+" else removed).extend(terms)
            nxt = self._peek()
            if nxt is None:
                break
            if nxt not in (("op", "+"), ("op", "-")):
                raise self._error(f"expected '+' or '-' before {nxt[1]!r}")
        return added, removed, intercept

    def _product(self) -> list[Term]:
        result = self._atom()
        while (tok := self._peek()) in (("op", "*"), ("op", ":")):
            self.pos += 1
            right = self._atom()
            crossed = [_join(a, b) for a in result for b in right]
            result = result + right + crossed if tok[1] == "*" else crossed
            result = list(dict.fromkeys(result))
        return result

    def _atom(self) -> list[Term]:
        tok = self._peek()
        if tok is None:
            raise self._error("a variable is missing")
        self.pos += 1
        if tok[0] == "name":
            return [Term((tok[1],))]
        if tok == ("op", "("):
            inner = self._product()
            while self._peek() == ("op", "+"):
                self.pos += 1
                inner += self._product()
            if self._peek() != ("op", ")"):
                raise self._error("unbalanced parenthesis")
            self.pos += 1
            return list(dict.fromkeys(inner))
        raise self._error(f"unexpected {tok[1]!r}")


def _join(a: Term, b: Term) -> Term:
    return Term(tuple(dict.fromkeys(a.variables + b.variables)))


def natural_levels(values: Iterable[Any]) -> list[Any]:
    """Distinct values in natural order (``VIS2`` before ``VIS10``; numbers numerically)."""

    def key(value: Any) -> tuple:
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            return (0, float(value), "")
        parts = re.split(r"(\d+)", str(value))
        return (1, 0.0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts))

    return sorted(set(values), key=key)


@dataclass(frozen=True)
class DesignInfo:
    """How a design matrix was built; builds matching rows for new settings.

    Attributes
    ----------
    formula : Formula
    levels : dict
        Factor name -> its levels (tuple, natural order) as present in the data.
    reference : dict
        Factor name -> reference level.
    means : dict
        Numeric covariate -> its mean over the rows used.
    column_names : tuple of str
        One label per column, e.g. ``"ARMCD[TRT]:AVISIT[VIS2]"``.
    column_terms : tuple of int
        Index into ``terms`` (``-1`` for the intercept) for each column.
    coding : tuple of tuple of bool
        Per term and variable: True when the factor is contrast coded.
    """

    formula: Formula
    levels: Mapping[str, tuple[Any, ...]]
    reference: Mapping[str, Any]
    means: Mapping[str, float]
    column_names: tuple[str, ...] = field(default=())
    column_terms: tuple[int, ...] = field(default=())
    coding: tuple[tuple[bool, ...], ...] = field(default=())

    @property
    def factors(self) -> tuple[str, ...]:
        return tuple(self.levels)

    def match_level(self, name: str, level: Any) -> Any:
        """The level of factor ``name`` equal to ``level`` (or to its text); ModelError if absent."""
        levels = self.levels[name]
        if level in levels:
            return level
        matches = [lvl for lvl in levels if str(lvl) == str(level)]
        if not matches:
            raise ModelError(f"level {level!r} of factor {name!r} is not in the data (levels: {list(levels)})")
        return matches[0]

    def _variable_block(self, name: str, contrast: bool, value: Any) -> tuple[np.ndarray, list[str]]:
        """Coding of one variable: (n, k) block and its column labels.

        ``value`` is a column of data (array), or for a single row a level, or
        ``None`` for equal weights over levels / the covariate mean.
        """
        if name not in self.levels:
            if value is None:
                value = np.array([self.means[name]])
            return np.asarray(value, dtype=float).reshape(-1, 1), [name]
        levels = self.levels[name]
        keep = [lvl for lvl in levels if not (contrast and lvl == self.reference[name])]
        labels = [f"{name}[{lvl}]" for lvl in keep]
        if value is None:
            return np.full((1, len(keep)), 1.0 / len(levels)), labels
        arr = np.asarray(value, dtype=object).reshape(-1)
        block = np.column_stack([(arr == lvl) for lvl in keep]).astype(float) if keep else np.zeros((arr.size, 0))
        return block, labels

    def _assemble(self, values: Mapping[str, Any], n: int) -> tuple[np.ndarray, list[str], list[int]]:
        blocks: list[np.ndarray] = []
        names: list[str] = []
        owners: list[int] = []
        if self.formula.intercept:
            blocks.append(np.ones((n, 1)))
            names.append("(Intercept)")
            owners.append(-1)
        for index, (term, coding) in enumerate(zip(self.formula.terms, self.coding)):
            block = np.ones((n, 1))
            labels = [""]
            for name, contrast in zip(term.variables, coding):
                part, part_labels = self._variable_block(name, contrast, values.get(name))
                block = (block[:, :, None] * part[:, None, :]).reshape(n, -1)
                labels = [f"{a}:{b}" if a else b for a, b in product(labels, part_labels)]
            blocks.append(block)
            names.extend(labels)
            owners.extend([index] * len(labels))
        matrix = np.hstack(blocks) if blocks else np.zeros((n, 0))
        return matrix, names, owners

    def build(self, data: pd.DataFrame) -> np.ndarray:
        """Design matrix ``(n_rows, n_columns)`` for the rows of ``data``."""
        values = {name: data[name].to_numpy() for name in self.formula.variables}
        matrix, _, _ = self._assemble(values, len(data))
        return matrix

    def row(self, settings: Mapping[str, Any] | None = None) -> np.ndarray:
        """One design row ``(n_columns,)``: named factors at a level, the rest averaged.

        Factors not in ``settings`` get equal weight over their levels (SAS's
        LS-means rule); numeric covariates not in ``settings`` sit at their mean.
        """
        settings = dict(settings or {})
        values: dict[str, Any] = {}
        for name, level in settings.items():
            if name in self.levels:
                values[name] = np.array([self.match_level(name, level)], dtype=object)
            elif name in self.means:
                values[name] = np.array([float(level)])
            else:
                raise ModelError(f"{name!r} is not a variable of the model {self.formula.response} ~ ...")
        matrix, _, _ = self._assemble(values, 1)
        return matrix[0]


def _is_factor(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def design_matrix(
    data: pd.DataFrame,
    formula: Formula | str,
    *,
    factors: Sequence[str] | None = None,
    reference: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, DesignInfo]:
    """Build the fixed-effects design matrix of ``formula`` on ``data``.

    Parameters
    ----------
    data : DataFrame
        Rows already cleaned of missing values in the model's columns.
    formula : Formula or str
    factors : sequence of str, optional
        Columns to treat as factors even if numeric.
    reference : mapping, optional
        Factor -> reference level (default: the last level in natural order, as SAS).

    Returns
    -------
    X : ndarray, shape (n_rows, n_columns)
    info : DesignInfo
    """
    if isinstance(formula, str):
        formula = Formula.parse(formula)
    factors = list(factors or [])
    reference = dict(reference or {})
    for name in [*formula.variables, *factors]:
        if name not in data.columns:
            raise ModelError(f"column {name!r} of the formula is not in the table (columns: {list(data.columns)})")
    for name in reference:
        if name not in formula.variables:
            raise ModelError(f"reference given for {name!r}, which is not a variable of the formula")
    levels: dict[str, tuple[Any, ...]] = {}
    refs: dict[str, Any] = {}
    means: dict[str, float] = {}
    for name in formula.variables:
        series = data[name]
        if name in factors or name in reference or _is_factor(series):
            if isinstance(series.dtype, pd.CategoricalDtype):
                present = set(series.dropna().unique())
                found = [lvl for lvl in series.cat.categories if lvl in present]
            else:
                found = natural_levels(series.dropna().tolist())
            if not found:
                raise ModelError(f"factor {name!r} has no levels in the rows used")
            ref = reference.get(name, found[-1])
            if ref not in found:
                matches = [lvl for lvl in found if str(lvl) == str(ref)]
                if not matches:
                    raise ModelError(f"reference level {ref!r} of factor {name!r} is not in the data (levels: {found})")
                ref = matches[0]
            levels[name] = tuple(found)
            refs[name] = ref
        else:
            means[name] = float(series.astype(float).mean())
    present_terms = {term.variables for term in formula.terms}
    if formula.intercept:
        present_terms.add(())
    coding = []
    for term in formula.terms:
        flags = []
        for name in term.variables:
            rest = tuple(v for v in term.variables if v != name)
            margin_present = any(set(rest) == set(other) for other in present_terms)
            flags.append(name in levels and margin_present)
        coding.append(tuple(flags))
    info = DesignInfo(formula=formula, levels=levels, reference=refs, means=means, coding=tuple(coding))
    values = {name: data[name].to_numpy() for name in formula.variables}
    matrix, names, owners = info._assemble(values, len(data))
    info = DesignInfo(
        formula=formula,
        levels=levels,
        reference=refs,
        means=means,
        column_names=tuple(names),
        column_terms=tuple(owners),
        coding=tuple(coding),
    )
    return matrix, info


def independent_columns(x: np.ndarray) -> np.ndarray:
    """Boolean mask of columns not linearly dependent on earlier ones (SAS's sweep order)."""
    keep = np.zeros(x.shape[1], dtype=bool)
    scale = np.linalg.norm(x, axis=0)
    basis = np.zeros((x.shape[0], 0))
    for j in range(x.shape[1]):
        col = x[:, j]
        if scale[j] == 0:
            continue
        resid = col - basis @ (basis.T @ col) if basis.shape[1] else col
        resid = resid - basis @ (basis.T @ resid) if basis.shape[1] else resid
        norm = np.linalg.norm(resid)
        if norm > 1e-9 * scale[j]:
            keep[j] = True
            basis = np.column_stack([basis, resid / norm])
    return keep


def model_frame(data: pd.DataFrame, formula: Formula, roles: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The rows and columns a model uses: missing or non-finite responses and missing covariates dropped.

    Parameters
    ----------
    data : DataFrame
    formula : Formula
    roles : mapping, optional
        Further required columns by role, e.g. ``{"subject": "USUBJID", "time": "AVISIT"}``.

    Raises
    ------
    ModelError
        A column is missing (named with its role), the response is not numeric, or no row is left.
    """
    if not isinstance(data, pd.DataFrame):
        raise ModelError(f"a model needs a pandas DataFrame, not {type(data).__name__}")
    required = {"response": formula.response, **dict(roles or {})}
    for role, name in required.items():
        if name not in data.columns:
            raise ModelError(f"{role} column {name!r} is not in the table (columns: {list(data.columns)})")
    for name in formula.variables:
        if name not in data.columns:
            raise ModelError(f"column {name!r} of the formula is not in the table (columns: {list(data.columns)})")
    used = list(dict.fromkeys([*required.values(), *formula.variables]))
    response = data[formula.response]
    if not pd.api.types.is_numeric_dtype(response) or pd.api.types.is_bool_dtype(response):
        raise ModelError(f"response column {formula.response!r} is not numeric (dtype {response.dtype})")
    frame = data[used].dropna(subset=used)
    frame = frame[np.isfinite(frame[formula.response].to_numpy(dtype=float))]
    if frame.empty:
        raise ModelError(f"no rows left to fit: every row misses {formula.response!r} or a model variable")
    return frame
