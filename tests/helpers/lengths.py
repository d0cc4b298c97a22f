"""A learner and a task for the extrapolation protocol's tests (tests/test_extrapolation.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from learners import Learner
from tasks import Hold


class Shift(Learner):
    """y_t = x_{t - shift} (zeros before it): a model that copies a fixed offset, at any length."""

    name = "shift"
    family = "convolutional"
    summary = "copies the input `shift` positions back"
    theory = {"complexity": "-", "sequential_ops": "O(1)", "max_path_length": "O(1)"}
    OPTIONS = {"shift": 1}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.options["shift"]
        return F.pad(x, (0, 0, k, 0))[:, : x.shape[1]]

    def max_path_length(self, n: int) -> int:
        return 1

    def sequential_ops(self, n: int) -> int:
        return 1

    def receptive_field(self, n: int) -> int:
        return self.options["shift"] + 1


class BrokenBeyondMaxLen(Shift):
    """Raises a plain ValueError (not ContextLengthError) past max_len: a bug, which must not be recorded as
    'not defined'."""

    name = "broken-beyond-max-len"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.max_len:
            raise ValueError("an unrelated bug")
        return super().forward(x)


@dataclass(frozen=True)
class HoldEverything(Hold):
    """hold, but declaring its load to be its distance (as lag does) without saying how to scale: it cannot."""

    name: ClassVar[str] = "hold-everything"
    load_param: ClassVar[str | None] = None

    @property
    def load(self) -> int:
        return self.distance
