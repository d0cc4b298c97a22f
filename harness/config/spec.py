"""RunSpec: the frozen, validated unit of work, and its content-hash id.

A RunSpec names a task (+ parameters), a learner (+ options), the width/depth, the optimiser, the budget,
the evaluation and the seed. Unknown keys are errors that name the nearest valid key; nothing is silently
dropped. ``spec.id`` is a short hash of the content that determines the numbers (execution details such as
the thread count, and the display label, are excluded, so a sweep resumed with other workers or relabelled
skips what it already has).

``label`` names the learner configuration in tables and figures. A suite sets it (only what differs between
its entries of the same learner, see harness.config.plan); a lone run defaults to the learner's name plus its
options, e.g. 'transformer[positions=rotary]'.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from harness.config.registry import learner_class, task_class
from harness.errors import ReachError
from harness.text import did_you_mean
from learners import LearnerOptionError
from tasks import Task, TaskParameterError

SCHEDULES = ("cosine", "constant")
DEVICES = ("cpu", "cuda", "auto")
# Fields that say how a run executes or is shown, not what it computes: left out of the id.
EXECUTION_FIELDS = ("threads", "label")
# Fields added after results were first stored: left out of the id while unset, so every earlier id stays valid
# (a folder written before them resumes, reports and compares as it did).
LATER_FIELDS = ("continues", "length_factors")
# The longest sequence a trained model is scored on (length_factors x the training length). Evaluation batches
# shrink with the length (harness.run.extrapolate), so dense attention's logits stay within 64 MiB per head and layer
# even here; the cap keeps one sequence's logits (4 heads x 4096² floats, 256 MiB) within a laptop's memory.
MAX_TEST_LENGTH = 4096


@dataclass(frozen=True)
class RunSpec:
    task: str
    distance: int
    learner: str
    task_params: dict[str, Any] = field(default_factory=dict)
    learner_options: dict[str, Any] = field(default_factory=dict)
    d_model: int = 64
    n_layers: int = 2
    param_budget: int | None = None  # when set, d_model is solved so that parameters <= budget
    seq_len: int | None = None  # only for tasks whose length is free (see Task.length_param)
    lr: float = 3e-3
    weight_decay: float = 0.01
    batch_size: int = 32
    schedule: str = "cosine"
    warmup_steps: int = 50
    grad_clip: float = 1.0
    steps: int = 2000
    max_seconds: float | None = None
    eval_every: int = 100
    val_batches: int = 4
    test_batches: int = 16
    # also score the trained model, without retraining, on the task scaled to these multiples of its length
    # (Task.scaled; 1 is always the test evaluation itself); None: only at the training length
    length_factors: list[int] | None = None
    solve_threshold: float = 0.99
    seed: int = 0
    threads: int = 1
    device: str = "cpu"
    label: str | None = None  # the learner configuration's name in tables; None: learner[options]
    # the id of the run whose final state this run continues (budget escalation, harness.run.escalation): it
    # trains on from that run's last step to ``steps``; under a constant schedule the same numbers as a fresh run
    # of ``steps`` steps, at the cost of the extra steps only
    continues: str | None = None

    def __post_init__(self) -> None:
        self._validate()
        if self.label is None:
            object.__setattr__(self, "label", self.default_label)

    # -- construction --------------------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "run spec") -> RunSpec:
        """Build from a plain dict; an unknown key raises ReachError naming the nearest valid key."""
        names = cls.field_names()
        for key in data:
            if key not in names:
                hint = did_you_mean(key, names)
                raise ReachError(f"{where}: unknown key '{key}'{hint}")
        missing = [k for k in ("task", "distance", "learner") if k not in data]
        if missing:
            raise ReachError(f"{where}: missing required key(s): {', '.join(missing)}")
        return cls(**data)

    def replace(self, **changes: Any) -> RunSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @property
    def id(self) -> str:
        content = {k: v for k, v in self.to_dict().items()
                   if k not in EXECUTION_FIELDS and not (k in LATER_FIELDS and v is None)}
        blob = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    @property
    def default_label(self) -> str:
        """Learner name plus its options, e.g. 'transformer[positions=rotary]'."""
        if not self.learner_options:
            return self.learner
        opts = ",".join(f"{k}={v}" for k, v in sorted(self.learner_options.items()))
        return f"{self.learner}[{opts}]"

    # -- derived objects -----------------------------------------------------------------------------------
    @cached_property
    def task_obj(self) -> Task:
        return make_task(self.task, self.distance, self.task_params, self.seq_len)

    # -- validation ----------------------------------------------------------------------------------------
    def _validate(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ReachError(f"run spec: {msg}")

        for name in ("distance", "d_model", "n_layers", "batch_size", "steps", "eval_every", "val_batches",
                     "test_batches", "seed", "threads", "warmup_steps"):
            value = getattr(self, name)
            need(isinstance(value, int) and not isinstance(value, bool), f"{name} must be an integer, got {value!r}")
        for name in ("distance", "d_model", "n_layers", "batch_size", "steps", "eval_every", "val_batches",
                     "test_batches", "threads"):
            need(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        need(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        need(self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        for name in ("lr", "weight_decay", "grad_clip", "solve_threshold"):
            value = getattr(self, name)
            need(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
                 f"{name} must be a finite number, got {value!r}")
        need(self.lr > 0, f"lr must be > 0, got {self.lr}")
        need(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        need(self.grad_clip >= 0, f"grad_clip must be >= 0 (0 disables clipping), got {self.grad_clip}")
        need(0 < self.solve_threshold <= 1, f"solve_threshold must be in (0, 1], got {self.solve_threshold}")
        need(self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        need(self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        need(self.max_seconds is None or (isinstance(self.max_seconds, (int, float)) and self.max_seconds > 0),
             f"max_seconds must be > 0 when given, got {self.max_seconds!r}")
        need(self.label is None or (isinstance(self.label, str) and self.label.strip() != ""),
             f"label must be a non-empty string when given, got {self.label!r}")
        need(self.param_budget is None or (isinstance(self.param_budget, int) and self.param_budget > 0),
             f"param_budget must be a positive integer when given, got {self.param_budget!r}")
        need(self.continues is None or (isinstance(self.continues, str) and len(self.continues) == 12
                                        and all(c in "0123456789abcdef" for c in self.continues)),
             f"continues must be the 12-character id of a run, got {self.continues!r}")
        need(self.continues is None or self.schedule == "constant",
             "continues needs schedule = \"constant\": a cosine schedule is tied to its horizon and cannot be "
             "continued to a larger budget (Hagele et al. 2024)")
        need(isinstance(self.task_params, dict), "task_params must be a table/dict")
        need(isinstance(self.learner_options, dict), "learner_options must be a table/dict")
        need("distance" not in self.task_params, "give the distance as 'distance', not inside task_params")
        task = self.task_obj  # validates task name and parameters
        self._validate_length_factors(task)
        cls = learner_class(self.learner)
        try:
            cls.resolve_options(dict(self.learner_options))
        except LearnerOptionError as exc:
            raise ReachError(str(exc)) from None
        need(task.seq_len >= 1, "the task's sequence is empty")

    def _validate_length_factors(self, task: Task) -> None:
        factors = self.length_factors
        if factors is None:
            return
        if isinstance(factors, tuple):
            factors = list(factors)
            object.__setattr__(self, "length_factors", factors)
        if not (isinstance(factors, list) and factors
                and all(isinstance(f, int) and not isinstance(f, bool) and f >= 1 for f in factors)
                and all(a < b for a, b in zip(factors, factors[1:]))):
            raise ReachError(f"run spec: length_factors must be a non-empty list of increasing integers >= 1 "
                             f"(multiples of the training length), got {factors!r}")
        try:
            longest = task.scaled(factors[-1])
        except TaskParameterError as exc:
            raise ReachError(f"run spec: length_factors: {exc}") from None
        if longest.seq_len > MAX_TEST_LENGTH:
            raise ReachError(f"run spec: length_factors: {factors[-1]}x the training length gives sequences of "
                             f"{longest.seq_len} positions, over the cap of {MAX_TEST_LENGTH}; use smaller factors "
                             f"or a shorter training length")


def make_task(name: str, distance: int, params: dict[str, Any], seq_len: int | None = None) -> Task:
    """Instantiate a task, turning parameter errors into ReachError; ``seq_len`` fills the task's free length."""
    cls = task_class(name)
    params = dict(params)
    if seq_len is not None:
        length_param = getattr(cls, "length_param", None)
        if length_param is None:
            raise ReachError(f"task '{name}' has a sequence length fixed by its distance and parameters; "
                             f"drop --seq-len")
        free = seq_len - distance
        if free < 1:
            raise ReachError(f"distance {distance} is longer than the sequence (--seq-len {seq_len}); "
                             f"use --seq-len > {distance}")
        params[length_param] = free
    try:
        return cls.from_params(distance=distance, **params)
    except TaskParameterError as exc:
        raise ReachError(str(exc)) from None
    except TypeError as exc:
        raise ReachError(f"task '{name}': {exc}") from None


def parse_value(text: str) -> Any:
    """Parse a command-line option value: int, float, true/false, none, else the string itself."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def parse_options(items: list[str] | None, flag: str = "--opt") -> dict[str, Any]:
    """Turn ['window=16', 'positions=rotary'] into a dict; a malformed item raises ReachError."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ReachError(f"{flag} '{item}' is malformed; write {flag} name=value, e.g. {flag} window=16")
        out[key.strip()] = parse_value(value)
    return out
