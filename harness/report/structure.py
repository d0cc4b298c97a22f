"""Each learner's structure beside its results: family, Table 1 row, maximum path length and receptive field at
the span a run had to bridge, asked of the learner classes themselves."""

from __future__ import annotations

from typing import Any

from harness.config.registry import learner_class
from harness.errors import ReachError
from harness.store.record import RunRecord


# -- learner structure (theory beside measurement) ------------------------------------------------------------
class Structure:
    """Family, Table 1 row, path length and receptive field of each learner label, from the learner classes.

    Path length and receptive field are asked of a learner built as the run built it (same width, depth,
    options and max_len = the run's sequence length), since some depend on max_len (the TCN's levels)."""

    def __init__(self, records: list[RunRecord]) -> None:
        self.family: dict[str, str] = {}
        self.theory: dict[str, dict[str, str]] = {}
        self.options: dict[str, dict[str, Any]] = {}
        self.specs: dict[str, dict[str, Any]] = {}
        self._cache: dict[tuple, Any] = {}
        for r in records:
            spec, label = r.spec, r.label
            if label in self.family or not spec.get("learner"):
                continue
            try:
                cls = learner_class(spec["learner"])
                self.family[label] = cls.family
                self.theory[label] = dict(cls.theory)
                self.options[label] = cls.resolve_options(dict(spec.get("learner_options") or {}))
            except (ReachError, ValueError, TypeError):
                self.family[label] = "other"
            self.specs[label] = spec

    def _learner(self, label: str, spec: dict[str, Any], d_model: int | None, seq_len: int) -> Any:
        key = (label, d_model, spec.get("n_layers"), seq_len)
        if key not in self._cache:
            try:
                cls = learner_class(spec["learner"])
                self._cache[key] = cls(d_model=int(d_model or spec.get("d_model") or 64),
                                       n_layers=int(spec.get("n_layers") or 2), max_len=int(seq_len),
                                       **dict(spec.get("learner_options") or {}))
            except (ReachError, ValueError, TypeError, RuntimeError):
                self._cache[key] = None
        return self._cache[key]

    def at(self, record: RunRecord, span: int) -> tuple[int | None, int | None, bool]:
        """(max path length across ``span`` + 1 positions, receptive field, whether the field is bounded) for the
        learner of ``record``; (None, None, False) when the learner cannot be built here."""
        seq_len = record.seq_len or (span + 1)
        learner = self._learner(record.label, record.spec, record.d_model, max(int(seq_len), span + 1))
        if learner is None:
            return None, None, False
        try:
            n = span + 1
            rf = learner.receptive_field(n)
            return int(learner.max_path_length(n)), (None if rf is None else int(rf)), rf is not None
        except (NotImplementedError, ValueError, TypeError):
            return None, None, False


def span_of(records: list[RunRecord]) -> dict[tuple[str, int], int]:
    """(task, distance) -> the longest dependency a run of it must bridge: the largest per-position distance in
    its test breakdown (copy: delay + symbols), else the distance parameter."""
    spans: dict[tuple[str, int], int] = {}
    for r in records:
        key = (r.task, r.distance)
        by = [int(k) for k in (r.test_by_distance or {})]
        spans[key] = max([spans.get(key, key[1]), *by])
    return spans
