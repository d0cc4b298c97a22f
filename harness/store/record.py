"""The run record: one typed result per run, and the outcomes a run can have.

A ``RunRecord`` is built in one place per kind of result — ``harness.run.train.train`` for a run that trained,
and the constructors below for a run that raised, a run the ladder skipped, and a planned run with no result
yet — and read everywhere else through its attributes. On disk it is one JSON object per line of
``runs.jsonl``; ``to_json`` writes exactly the keys reach has always written for that kind of result, and
``from_json`` reads folders written by any version (missing keys are None; keys it does not know are kept in
``extra`` and written back).
"""

from __future__ import annotations

import traceback as tb
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """How a run ended. ``pending`` never reaches runs.jsonl: the report gives it to planned runs that have no
    record yet (an interrupted sweep)."""

    SOLVED = "solved"  # test accuracy >= the spec's solve_threshold
    UNSOLVED = "unsolved"  # trained to its budget (or stopped) below the threshold
    DIVERGED = "diverged"  # a non-finite loss: recorded, not raised
    ERROR = "error"  # the run raised, or its worker died
    SKIPPED = "skipped"  # not run: a majority of seeds failed a shorter distance (or a smaller load)
    PENDING = "pending"  # planned, no result yet


OUTCOMES = tuple(Outcome)
TRAINED = (Outcome.SOLVED, Outcome.UNSOLVED, Outcome.DIVERGED)  # ran to a test evaluation
RAN = TRAINED + (Outcome.ERROR,)  # started: the distance was attempted
FAILED = (Outcome.UNSOLVED, Outcome.DIVERGED, Outcome.ERROR)  # attempted and not solved: the ladder prunes on these
NOT_RUN = (Outcome.SKIPPED, Outcome.PENDING)


@dataclass
class RunRecord:
    """The result of one run (units: seconds, tokens/s; accuracies in [0, 1] on the test stream)."""

    id: str
    spec: dict[str, Any]  # RunSpec.to_dict() of the run
    label: str  # the learner's label in tables and figures
    outcome: Outcome
    stop_reason: str = ""
    error: str | None = None
    traceback: str | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    test_exact_match: float | None = None
    test_by_distance: dict[str, list[int]] | None = None  # per-position distance -> [correct, scored]
    baseline_accuracy: float | None = None
    baseline_loss: float | None = None
    steps_run: int | None = None
    steps_to_solve: int | None = None
    val_steps_to_threshold: int | None = None
    d_model: int | None = None
    params: int | None = None
    learner_params: int | None = None
    seq_len: int | None = None
    load: int | None = None  # items held at once across the gap (Task.load); None in records before it existed
    tokens_per_s: float | None = None
    train_seconds: float | None = None
    wall_seconds: float | None = None
    curve: list[dict[str, Any]] | None = None
    # scores at multiples of the training length (harness.run.extrapolate; the 1x entry is the test evaluation);
    # None, and then left out of runs.jsonl, unless the spec asked for length_factors
    extrapolation: list[dict[str, Any]] | None = None
    threads: int | None = None
    device: str | None = None
    steps_resumed: int | None = None  # steps taken over from the run this one continues (spec["continues"])
    flops_per_step: float | None = None  # FLOPs of one training step (forward + backward of one batch), counted
    # the trained model's gradient at the run's distance against one step back (unsolved runs):
    # {"k": distance, "G_k": G(k), "G_1": G(1), "ratio": G(k) / G(1)} (harness.run.train.distance_gradient)
    gradient: dict[str, Any] | None = None
    # the run's last state (model, optimiser, scheduler, training stream) as torch.save bytes, for an unsolved run
    # that budget escalation may continue; in transit from the worker to the driver only, which keeps it in the
    # results folder's checkpoints/ (never written to runs.jsonl)
    checkpoint: bytes | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)  # keys of other versions, kept as they were

    # -- the spec's coordinates --------------------------------------------------------------------------------
    @property
    def task(self) -> str:
        return self.spec.get("task", "")

    @property
    def learner(self) -> str:
        return self.spec.get("learner", "")

    @property
    def distance(self) -> int:
        return int(self.spec.get("distance", 0))

    @property
    def seed(self) -> int:
        return int(self.spec.get("seed", 0))

    @property
    def continues(self) -> str | None:
        """The id of the run this one continues (an escalation), or None."""
        return self.spec.get("continues")

    @property
    def trained(self) -> bool:
        return self.outcome in TRAINED

    # -- the other kinds of result -----------------------------------------------------------------------------
    @classmethod
    def failure(cls, spec: Any, exc: BaseException, wall_seconds: float = 0.0) -> RunRecord:
        """A run that raised (or whose worker died): kept in the results, counted in the summary."""
        return cls(id=spec.id, spec=spec.to_dict(), label=spec.label, outcome=Outcome.ERROR, stop_reason="exception",
                   error=f"{type(exc).__name__}: {exc}", traceback="".join(tb.format_exception(exc))[-4000:],
                   wall_seconds=wall_seconds)

    @classmethod
    def skipped(cls, spec: Any, failed_at: int, axis: str = "distance") -> RunRecord:
        """A run the ladder did not run, because no majority of the learner's seeds solved rung ``failed_at`` (a
        distance, or a load when ``axis`` is "load")."""
        shorter = "a smaller load" if axis == "load" else "a shorter distance"
        return cls(id=spec.id, spec=spec.to_dict(), label=spec.label, outcome=Outcome.SKIPPED,
                   stop_reason=f"not solved by a majority at {shorter} ({failed_at})")

    @classmethod
    def pending(cls, spec: Any) -> RunRecord:
        """A planned run with no result yet (the report's view of an interrupted sweep)."""
        return cls(id=spec.id, spec=spec.to_dict(), label=spec.label, outcome=Outcome.PENDING,
                   stop_reason="not finished: the sweep was interrupted before this run ended")

    # -- JSON, as runs.jsonl holds it --------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The JSON object of runs.jsonl: the keys reach writes for this kind of result, in their usual order."""
        keys = TRAINED_KEYS if self.outcome in TRAINED else ERROR_KEYS if self.outcome is Outcome.ERROR \
            else NOT_RUN_KEYS
        out = {k: getattr(self, k) for k in keys}
        if self.outcome in TRAINED and self.extrapolation is not None:
            out["extrapolation"] = self.extrapolation
        out["outcome"] = str(self.outcome)
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        """A record from a runs.jsonl object of any version of reach; raises ValueError when it is not one."""
        if not isinstance(data, dict) or "id" not in data:
            raise ValueError("not a run record")
        known = {f.name for f in fields(cls)} - {"extra", "checkpoint"}
        values = {k: v for k, v in data.items() if k in known}
        spec = values.get("spec") or {}
        values["spec"] = spec
        values["label"] = values.get("label") or spec.get("learner", "")
        try:
            values["outcome"] = Outcome(values.get("outcome"))
        except ValueError:
            raise ValueError(f"unknown outcome {data.get('outcome')!r}") from None
        values["stop_reason"] = values.get("stop_reason") or ""
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})


NOT_RUN_KEYS = ("id", "spec", "label", "outcome", "stop_reason", "error")
ERROR_KEYS = NOT_RUN_KEYS + ("traceback", "wall_seconds")
TRAINED_KEYS = ("id", "spec", "label", "outcome", "stop_reason", "test_accuracy", "test_loss", "test_exact_match",
                "test_by_distance", "baseline_accuracy", "baseline_loss", "steps_run", "steps_to_solve",
                "val_steps_to_threshold", "d_model", "params", "learner_params", "seq_len", "load", "tokens_per_s",
                "train_seconds", "wall_seconds", "curve", "threads", "device", "error", "steps_resumed",
                "flops_per_step", "gradient")
