"""An editing session: the strategy document, its samples, undo/redo and saving.

Every edit changes the round-trip document, re-reads the resulting text with
the project's own strategy loader (so nothing the loader refuses can be
saved), gates the current sample incrementally and only then becomes the new
state; a refused edit leaves the document as it was and says why.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import CytogateError, StrategyError
from ..engine.execute import fit_static
from ..strategy.tree import Strategy
from ..strategy.yaml_format import load_yaml_strategy
from .document import NEW_STRATEGY, StrategyDocument, merge_lines
from .gating import SampleGating, load_sample
from .geometry import polygon_crossing, static_gate
from .plots import axis_range, density_image, histogram
from .review import NEW_OVERRIDES, OverridesDocument, check_entry_text, start_gate

__all__ = ["EditRefused", "EditorSession"]

log = logging.getLogger(__name__)

_PROBE = "__cytogate_edit_axes__"  # id of the temporary population that resolves chosen plot axes


class EditRefused(StrategyError):
    """An edit the editor does not write (the strategy would be invalid, or the gate is refused)."""


def _bounds(gate: Any) -> list[tuple[int, float]]:
    """Static thresholds of a gate as ``(dimension index, value)`` (boxes and quadrant dividers)."""
    out: list[tuple[int, float]] = []
    if hasattr(gate, "mins") and not gate.needs_fit:
        for i, (lo, hi) in enumerate(zip(gate.mins, gate.maxs)):
            out += [(i, float(v)) for v in (lo, hi) if v is not None and abs(float(v)) != float("inf")]
    return out


class EditorSession:
    """A YAML strategy being edited against one or more FCS files (one shown at a time)."""

    def __init__(self, strategy_path: str | Path, fcs_paths: list[str | Path],
                 overrides_path: str | Path | None = None) -> None:
        if not fcs_paths:
            raise StrategyError("the editor needs at least one FCS file (--fcs FILE)")
        self.path = Path(strategy_path)
        self.new_file = not self.path.exists()
        text = NEW_STRATEGY if self.new_file else self.path.read_text(encoding="utf-8-sig")
        self.doc = StrategyDocument(text, source=str(self.path))
        self.strategy = self._load(text)
        self.fcs = [Path(p) for p in fcs_paths]
        for path in self.fcs:
            if not path.is_file():
                raise StrategyError(f"FCS file not found: {path}")
        from ..batch.samplesheet import safe_sample_name

        # the sample names of counts.csv when `cytogate run` is given these files without a sample sheet
        self.sample_names = [safe_sample_name(p.name.rsplit(".", 1)[0] if "." in p.name.lstrip(".") else p.name)
                             for p in self.fcs]
        if overrides_path is None and self.strategy is not None:
            overrides_path = self.strategy.overrides  # the strategy's `overrides:` file, unless one is given
        self.overrides_path = None if overrides_path is None else Path(overrides_path)
        self.review: OverridesDocument | None = None
        self.review_text: str | None = None
        self.review_saved: str | None = None
        if self.overrides_path is not None:
            exists = self.overrides_path.exists()
            self._set_review(self.overrides_path.read_text(encoding="utf-8-sig") if exists else NEW_OVERRIDES)
            self.review_saved = self.review_text  # a missing file is written once it has an override
        self._resolved: tuple[Any, dict[str, Any]] | None = None
        self._parsed: tuple[str | None, Any] | None = None
        self._applied: tuple[Any, Any, Strategy] | None = None
        self.current = 0
        self._gatings: dict[int, SampleGating] = {}
        self._axes: dict[tuple[int, Any], tuple[float, float]] = {}
        self.undo_stack: list[tuple[str, str | None]] = []
        self.redo_stack: list[tuple[str, str | None]] = []
        self._written(text)
        self.gating()

    def _written(self, text: str) -> None:
        """Remember the file's text as it is on disk (the base of :meth:`file_text`)."""
        self.saved_text = self.doc.text()
        self.original_text, self.base_text = text, StrategyDocument(text, source=str(self.path)).text()

    def file_text(self) -> str:
        """The text :meth:`save` writes: the file as written, with only the edited lines changed."""
        if self.new_file:
            return self.doc.text()
        return merge_lines(self.base_text, self.original_text, self.doc.text())

    # -- state -----------------------------------------------------------------------
    def _load(self, text: str) -> Strategy | None:
        doc = self.doc if text == self.doc.text() else StrategyDocument(text, source=str(self.path))
        if not doc.populations:
            return None  # a new strategy: nothing drawn yet
        return load_yaml_strategy(text, source=self.path)

    def gating(self, index: int | None = None) -> SampleGating:
        """The (incrementally updated) gating of sample ``index`` (default: the current one)."""
        index = self.current if index is None else index
        g = self._gatings.get(index)
        if g is None:
            qc = None if self.strategy is None else self.strategy.qc
            g = self._gatings[index] = SampleGating(self.fcs[index], load_sample(self.fcs[index], qc))
        target = self.effective(index)
        if target is not None and g.strategy is not target:
            g.update(target)
        return g

    # -- overrides -------------------------------------------------------------------
    def _set_review(self, text: str) -> None:
        assert self.overrides_path is not None
        self.review = OverridesDocument(text, source=str(self.overrides_path))
        self.review_text = self.review.text()

    def _overrides(self) -> dict[str, Any]:
        """The overrides file read against the strategy: sample name -> its overrides (cached)."""
        from ..strategy.overrides import parse_overrides

        if self.review is None or self.strategy is None:
            return {}
        key = (self.strategy, self.review_text)
        if self._resolved is None or self._resolved[0] != key:
            if self._parsed is None or self._parsed[0] != self.review_text:  # parsed again only when it changed
                self._parsed = (self.review_text, parse_overrides(self.review_text or "",
                                                                  source=str(self.overrides_path)))
            parsed = self._parsed[1]
            names = list(dict.fromkeys([*self.sample_names, *(e.sample for e in parsed.entries)]))
            self._resolved = (key, parsed.resolve(self.strategy, names) if parsed.entries else {})
        return self._resolved[1]

    def effective(self, index: int | None = None) -> Strategy | None:
        """The strategy sample ``index`` is gated with: the template, with that sample's overrides applied."""
        index = self.current if index is None else index
        if self.strategy is None:
            return None
        reviewed = self._overrides().get(self.sample_names[index])
        if reviewed is None:
            return self.strategy
        cache = self._applied
        if cache is None or cache[0] is not self.strategy or cache[1] is not reviewed:
            cache = self._applied = (self.strategy, reviewed, reviewed.apply(self.strategy))
        return cache[2]

    def _need_review(self) -> OverridesDocument:
        if self.review is None:
            raise EditRefused("no overrides file: start the editor with --overrides FILE to correct one sample")
        return self.review

    def set_override(self, path: str, gate: Any, *, reason: Any, author: Any,
                     date: str | None = None) -> list[dict[str, Any]]:
        """Correct ``path``'s gate on the sample on screen only: an entry of the overrides file."""
        review = self._need_review()
        self._known(path)
        reason, author = check_entry_text(reason, "reason"), check_entry_text(author, "author")
        date = dt.datetime.now(dt.UTC).date().isoformat() if not date else str(date).strip()
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            raise EditRefused(f"date {date!r} is not an ISO date (YYYY-MM-DD)") from None
        if gate != "template" and not (isinstance(gate, dict) and len(gate) == 1):
            raise EditRefused("an override's gate is one gate mapping, e.g. {\"range\": {...}}, or \"template\"")
        before = self._snapshot()
        review.set(self.sample_names[self.current], path, gate, reason=reason, author=author, date=date)
        return self._commit_review(before, path)

    def remove_override(self, path: str) -> list[dict[str, Any]]:
        """Put ``path`` back on the template for the sample on screen."""
        review = self._need_review()
        before = self._snapshot()
        if not review.remove(self.sample_names[self.current], path):
            raise EditRefused(f"{path} has no override on {self.sample_names[self.current]}", population=path)
        return self._commit_review(before, None)

    def _commit_review(self, before: tuple[str, str | None], path: str | None) -> list[dict[str, Any]]:
        assert self.review is not None
        self.review_text = self.review.text()
        try:
            target = self.effective()
            if target is not None and path is not None:
                self._check(target, path, old=self._gatings[self.current].strategy)  # as last gated
            self.gating()
        except CytogateError as exc:
            self._restore_snapshot(before)
            raise EditRefused(exc.message, path=exc.path, **exc.location) from None
        self.undo_stack.append(before)
        self.redo_stack.clear()
        return self.populations()

    def _snapshot(self) -> tuple[str, str | None]:
        return self.doc.text(), self.review_text

    def _restore_snapshot(self, snap: tuple[str, str | None]) -> None:
        self.doc = StrategyDocument(snap[0], source=str(self.path))
        self.strategy = self._load(snap[0])
        if snap[1] is not None:
            self._set_review(snap[1])

    def select(self, index: int) -> None:
        if not 0 <= index < len(self.fcs):
            raise EditRefused(f"no sample {index}; there are {len(self.fcs)}")
        for other, g in self._gatings.items():
            if other != index:
                g.cache.clear()  # one sample's values are kept: the one on screen
        self.current = index
        self.gating()

    def refs(self) -> dict[str, tuple[str, str]]:
        """Population path -> (its entry's key in the file, the id children name as ``parent``).

        The loader keeps the file's order and expands a quadrant entry into its
        cells in place, so the two lists are walked side by side.
        """
        out: dict[str, tuple[str, str]] = {}
        if self.strategy is None:
            return out
        pops, i = self.strategy.populations, 0
        for key in self.doc.populations:
            if self.doc.gate_kind(key) == "quadrant":
                while i < len(pops) and getattr(pops[i].gate, "group", None) == key:
                    out[pops[i].path] = (str(key), pops[i].name)
                    i += 1
            else:
                out[pops[i].path] = (str(key), str(key))
                i += 1
        return out

    def populations(self) -> list[dict[str, Any]]:
        """Each population as the API lists it, counted on the current sample."""
        if self.strategy is None:
            return []
        g, refs = self.gating(), self.refs()
        overridden = self._overrides().get(self.sample_names[self.current])
        out = []
        for pop in self.strategy.populations:
            key, ref = refs[pop.path]
            raw_fit = g.fitted.get(pop.path)
            fitted = None
            if raw_fit is not None:
                fitted = {k: v for k, v in raw_fit.items() if k != "fits"} | {
                    "fits": [{k: v for k, v in f.items() if k != "diagnostics"} for f in raw_fit.get("fits", [])]}
            item: dict[str, Any] = {
                "path": pop.path, "name": pop.name, "parent": pop.parent, "key": key, "id": ref,
                "gate": self.doc.gate(key), "kind": pop.gate.kind, "data_driven": bool(pop.gate.needs_fit),
                "fitted": fitted, "dimensions": [d.label for d in pop.gate.dimensions],
                "count": g.count(pop.path), "parent_count": g.count(pop.parent),
                "source": "fitted" if pop.gate.needs_fit else "template",
            }
            if self.review is not None:
                is_overridden = overridden is not None and pop.path in overridden.gates
                if is_overridden:
                    item["source"] = "override"
                    if pop.gate.needs_fit:  # where the template's rule lands on the corrected parent
                        values = g.values(tuple(pop.gate.dimensions), pop.parent)
                        raw_fit = fit_static(pop.gate, values, pop.path).to_dict()
                item["override"] = self.review.entry(self.sample_names[self.current], pop.path)
                item["template_here"] = start_gate(item["gate"], pop.gate, raw_fit)
            out.append(item)
        return out

    def state(self) -> dict[str, Any]:
        return {"file": str(self.path), "samples": [p.name for p in self.fcs], "current": self.current,
                "n_events": self.gating().n_events, "can_undo": bool(self.undo_stack),
                "can_redo": bool(self.redo_stack), "modified": self.doc.text() != self.saved_text
                or self.review_text != (self.review_saved if self.review is not None else None),
                "channels": self._channels(), "sample_names": self.sample_names,
                "sample_name": self.sample_names[self.current],
                "overrides": None if self.overrides_path is None else str(self.overrides_path)}

    def _channels(self) -> list[dict[str, str]]:
        sample = self.gating().sample
        return [{"channel": str(c), "marker": "" if m is None else str(m)}
                for c, m in zip(sample.channels, sample.markers)]

    # -- edits -----------------------------------------------------------------------
    def _commit(self, before: str, *, checked: str | None = None) -> list[dict[str, Any]]:
        """Accept the edited document if the loader and the editor's checks take it, else restore ``before``."""
        text = self.doc.text()
        try:
            strategy = self._load(text)
            if strategy is not None and checked is not None:
                self._check(strategy, checked)
            previous, self.strategy = self.strategy, strategy
            try:
                self.gating()
            except CytogateError:
                self.strategy = previous
                raise
        except CytogateError as exc:
            self.doc = StrategyDocument(before, source=str(self.path))
            self.strategy = self._load(before)
            raise EditRefused(exc.message, path=exc.path, **exc.location) from None
        self.undo_stack.append((before, self.review_text))
        self.redo_stack.clear()
        return self.populations()

    def _check(self, strategy: Strategy, path: str, old: Strategy | None = None) -> None:
        """Refusals of the editor: crossing polygon edges, a changed threshold off its axis (``old``: the
        strategy before the edit, default the template)."""
        pop = strategy.by_path.get(path)
        if pop is None:
            return
        gate = pop.gate
        if gate.kind == "polygon" and not gate.needs_fit:
            crossing = polygon_crossing(gate.to_dict()["vertices"])
            if crossing is not None:
                raise EditRefused(f"polygon edges {crossing[0]} and {crossing[1]} cross", path=str(self.path),
                                  population=path)
        old_strategy = self.strategy if old is None else old
        prior = old_strategy.by_path.get(path) if old_strategy is not None else None
        before = set(_bounds(prior.gate)) if prior is not None and prior.gate.dimensions == gate.dimensions else set()
        for i, value in _bounds(gate):
            if (i, value) in before:
                continue
            lo, hi = self.axis(gate.dimensions[i], strategy)
            if not lo <= value <= hi:
                raise EditRefused(f"threshold {value:.6g} of {gate.dimensions[i].label} is outside the axis "
                                  f"[{lo:.6g}, {hi:.6g}]", path=str(self.path), population=path)

    def set_gate(self, path: str, gate: dict[str, Any]) -> list[dict[str, Any]]:
        key = self._key(path)
        before = self.doc.text()
        try:
            self.doc.set_gate(key, gate)
        except Exception as exc:  # a malformed gate document from a script: the tree is put back
            self.doc = StrategyDocument(before, source=str(self.path))
            if isinstance(exc, CytogateError):
                raise
            raise EditRefused(f"cannot use this gate: {exc}", population=path) from None
        return self._commit(before, checked=path)

    def make_static(self, path: str) -> list[dict[str, Any]]:
        """Replace a data-driven gate by the static gate it fitted on the current sample."""
        fitted = self.gating().fitted.get(path)
        if fitted is None:
            raise EditRefused("not a data-driven gate", population=path)
        key = self._key(path)
        before = self.doc.text()
        self.doc.set_gate(key, static_gate(self.doc.gate(key), fitted))
        return self._commit(before)

    def rename(self, path: str, name: str) -> list[dict[str, Any]]:
        name = name.strip()
        if not name or "/" in name:
            raise EditRefused(f"invalid population name {name!r} (not empty, no '/')", population=path)
        key, ref = self.refs()[self._known(path)]
        before = self.doc.text()
        if key == ref:
            self.doc.set_name(key, name)
        else:  # a quadrant cell: its id is its name, children follow it
            table = self.doc.populations[key]["quadrant"].get("populations")
            if table is None:
                raise EditRefused("name this quadrant's cells under quadrant.populations to rename them",
                                  population=path)
            for label, target in table.items():
                if target == ref:
                    table[label] = name
            self.doc.rename_reference(ref, name)
            self.doc.changed()
        return self._commit(before)

    def delete(self, path: str) -> list[dict[str, Any]]:
        """Delete a population and every population below it."""
        self._known(path)
        assert self.strategy is not None
        refs = self.refs()
        doomed = [p for p in self.strategy.paths if p == path or p.startswith(path + "/")]
        before = self.doc.text()
        for p in doomed:
            key, ref = refs[p]
            if key not in self.doc.populations:
                continue
            if key == ref:
                self.doc.delete([key])
                continue
            quadrant = self.doc.populations[key]["quadrant"]
            table = quadrant.get("populations")
            cells = [label for label, target in (table or {}).items() if target == ref or label == ref]
            for label in cells:
                del table[label]
            self.doc.changed()
            if table is None or not table:
                self.doc.delete([key])
        return self._commit(before)

    def add(self, parent: str, name: str, gate: dict[str, Any]) -> list[dict[str, Any]]:
        """A new population under ``parent`` ('/' for the root) with ``gate``."""
        name = name.strip()
        if not name or "/" in name:
            raise EditRefused(f"invalid population name {name!r} (not empty, no '/')")
        refs = self.refs()
        parent_ref = None if parent == "/" else refs[self._known(parent)][1]
        key, n = name, 2
        while key in self.doc.populations:
            key, n = f"{name} {n}", n + 1
        after = None
        if parent != "/" and self.strategy is not None:
            below = [refs[p][0] for p in self.strategy.paths if p == parent or p.startswith(parent + "/")]
            after = below[-1] if below else None
        before = self.doc.text()
        self.doc.add(key, parent=parent_ref, gate=gate, after=after)
        if key != name:
            self.doc.set_name(key, name)
        return self._commit(before, checked=(parent.rstrip("/") + "/" + name))

    def undo(self) -> list[dict[str, Any]]:
        return self._restore(self.undo_stack, self.redo_stack)

    def redo(self) -> list[dict[str, Any]]:
        return self._restore(self.redo_stack, self.undo_stack)

    def _restore(self, source: list[tuple[str, str | None]],
                 target: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
        if not source:
            raise EditRefused("nothing to undo" if source is self.undo_stack else "nothing to redo")
        target.append(self._snapshot())
        self._restore_snapshot(source.pop())
        return self.populations()

    def save(self) -> Path:
        """Write the file in place, atomically; its text is the one the loader accepted."""
        from ..atomic import atomic_write

        if self.strategy is None:
            raise EditRefused("nothing to save yet: draw a first gate", path=str(self.path))
        if self.review is not None and self.review_text != self.review_saved:
            review_text = self.review_text or ""

            def write_review(handle: BinaryIO) -> None:
                handle.write(review_text.encode("utf-8"))

            assert self.overrides_path is not None
            atomic_write(self.overrides_path, write_review)
            self.review_saved = review_text
            log.info("saved %s", self.overrides_path)
            if not self.new_file and self.doc.text() == self.saved_text:
                return self.path  # a review: the template is not rewritten
        text = self.file_text()
        edited = load_yaml_strategy(self.doc.text(), source=self.path)
        if load_yaml_strategy(text, source=self.path).populations != edited.populations:
            text = self.doc.text()  # pragma: no cover - a merge that changed meaning: write the edit as dumped
        def write(handle: BinaryIO) -> None:
            handle.write(text.encode("utf-8"))

        atomic_write(self.path, write)
        self.new_file = False
        self._written(text)
        log.info("saved %s", self.path)
        return self.path

    def _known(self, path: str) -> str:
        if self.strategy is None or path not in self.strategy.by_path:
            raise EditRefused(f"no population {path!r}")
        return path

    def _key(self, path: str) -> str:
        return self.refs()[self._known(path)][0]

    # -- plots -----------------------------------------------------------------------
    def axis(self, dim: Any, strategy: Strategy | None = None) -> tuple[float, float]:
        """Fixed axis range of a dimension on the current sample (from all its events)."""
        key = (self.current, dim)
        if key not in self._axes:
            values = self.gating().values((dim,), "/", strategy)[0]
            self._axes[key] = axis_range(values, transformed=dim.transform is not None)
        return self._axes[key]

    def _probe(self, path: str, x: str, y: str | None) -> tuple[Strategy, tuple[Any, ...]]:
        """Dimensions named ``x`` (and ``y``) as a child gate of ``path`` would read them (defaults applied)."""
        refs = self.refs()
        parent_ref = None if path == "/" else refs[self._known(path)][1]
        axes = [x] if y is None or y == x else [x, y]
        probe = StrategyDocument(self.doc.text(), source=str(self.path))
        probe.add(_PROBE, parent=parent_ref, gate={"rectangle": {a: {"min": -1e300} for a in axes}})
        try:
            strategy = load_yaml_strategy(probe.text(), source=self.path)
        except StrategyError as exc:
            raise EditRefused(exc.message) from None
        pop = next(p for p in strategy.populations if p.name == _PROBE)
        return strategy, pop.gate.dimensions

    def plot(self, path: str, *, x: str | None = None, y: str | None = None) -> dict[str, Any]:
        """The events a gate is drawn over, binned on its axes.

        Without ``x``: population ``path``'s parent's events on ``path``'s gate
        axes.  With ``x`` (and ``y``): ``path``'s own events on those channels,
        where a new child gate is drawn.
        """
        g = self.gating()
        strategy: Strategy | None
        if x is not None:
            strategy, dims = self._probe(path, x, y)
            events_of = path
        else:
            shown = self.effective()  # an overridden gate is drawn on its override's axes
            pop = shown.by_path[self._known(path)] if shown is not None else None
            assert pop is not None
            strategy, dims, events_of = shown, pop.gate.dimensions[:2], pop.parent
        if not dims:
            return {"path": path, "events_of": events_of, "axes": [], "n_events": g.count(events_of)}
        try:
            values = g.values(tuple(dims), events_of, strategy)
        except CytogateError as exc:
            raise EditRefused(exc.message, population=path) from None
        ranges = [self.axis(d, strategy) for d in dims]
        axes = [{"label": d.label, "name": d.name if hasattr(d, "name") else d.label,
                 "lo": r[0], "hi": r[1], "transformed": d.transform is not None} for d, r in zip(dims, ranges)]
        out: dict[str, Any] = {"path": path, "events_of": events_of, "axes": axes, "n_events": int(values.shape[1])}
        if len(dims) == 1:
            out["histogram"] = histogram(values[0], ranges[0])
        else:
            out["density"] = density_image(values[0], values[1], ranges[0], ranges[1])
        return out
