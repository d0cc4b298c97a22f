"""The Learner interface: a causal sequence mixer, [B, L, D] -> [B, L, D].

Every learner is an ``nn.Module`` constructed as ``cls(d_model=..., n_layers=..., max_len=..., **options)``.
Options a learner accepts are declared in its ``OPTIONS`` dict (name -> default); any other keyword is an
error that names the option and the valid ones. Output at position t may depend on inputs at positions <= t
only. Learners never see vocabularies or losses: the harness wraps them between an encoder and a head.

Each learner also declares its structure so that the report can set theory beside measurement:

- ``family``: "recurrent" | "convolutional" | "attention" | "linear-recurrent" (a diagonal linear recurrence
  computed by a parallel scan)
- ``theory``: the Table 1 row (Vaswani et al. 2017) as strings: complexity per layer, sequential
  operations, maximum path length.
- ``max_path_length(n)``: the number of layer/step crossings from input 0 to output n-1.
- ``sequential_ops(n)``: operations that must run one after another for a length-n sequence.
- ``receptive_field(n)``: how many positions (the current one included) output t can depend on, or None
  when it is unbounded (every earlier position).

A learner that is not defined beyond some length (a learned table of positions, a fixed context) raises
:class:`ContextLengthError` on a longer input, so that the harness can score it as *not defined* there rather
than as wrong.
"""

from __future__ import annotations

import difflib
from typing import Any, ClassVar

from torch import nn

FAMILIES = ("recurrent", "convolutional", "attention", "linear-recurrent")


class LearnerOptionError(ValueError):
    """An option a learner does not accept, or an impossible value."""


class ContextLengthError(ValueError):
    """An input longer than the learner is defined for (e.g. beyond a learned table of max_len positions)."""


class Learner(nn.Module):
    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # one line for `run.py list`
    theory: ClassVar[dict[str, str]] = {}  # keys: complexity, sequential_ops, max_path_length
    OPTIONS: ClassVar[dict[str, Any]] = {}

    def __init__(self, d_model: int, n_layers: int, max_len: int = 1024, **options: Any) -> None:
        super().__init__()
        if int(d_model) < 1:
            raise LearnerOptionError(f"{self.name}: d_model must be >= 1, got {d_model}")
        if int(n_layers) < 1:
            raise LearnerOptionError(f"{self.name}: n_layers must be >= 1, got {n_layers}")
        if int(max_len) < 1:
            raise LearnerOptionError(f"{self.name}: max_len must be >= 1, got {max_len}")
        self.d_model, self.n_layers, self.max_len = int(d_model), int(n_layers), int(max_len)
        self.options = self.resolve_options(options)

    @classmethod
    def resolve_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Defaults merged with ``options``; unknown names raise LearnerOptionError naming the nearest."""
        for key in options:
            if key not in cls.OPTIONS:
                near = difflib.get_close_matches(key, list(cls.OPTIONS), n=1)
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                valid = ", ".join(sorted(cls.OPTIONS)) or "none"
                raise LearnerOptionError(
                    f"learner '{cls.name}' has no option '{key}'{hint}; valid options: {valid}"
                )
        resolved = dict(cls.OPTIONS)
        for key, value in options.items():
            default = cls.OPTIONS[key]
            if isinstance(value, bool) and not isinstance(default, bool):  # bool is an int to isinstance
                raise LearnerOptionError(
                    f"learner '{cls.name}' option '{key}' must be {type(default).__name__}, got {value!r}"
                )
            if default is not None and not isinstance(value, type(default)):
                if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                else:
                    raise LearnerOptionError(
                        f"learner '{cls.name}' option '{key}' must be {type(default).__name__}, "
                        f"got {value!r}"
                    )
            resolved[key] = value
        return resolved

    def require(self, key: str, ok: bool, allowed: str) -> None:
        """Raise LearnerOptionError naming option ``key``, its ``allowed`` values and the value given, unless ok."""
        if not ok:
            raise LearnerOptionError(
                f"learner '{self.name}' option '{key}' must be {allowed}, got {self.options[key]!r}"
            )

    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def max_path_length(self, n: int) -> int:
        raise NotImplementedError

    def sequential_ops(self, n: int) -> int:
        raise NotImplementedError

    def receptive_field(self, n: int) -> int | None:
        raise NotImplementedError
