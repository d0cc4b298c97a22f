"""The model the harness trains: task encoder -> learner (the sequence mixer) -> task head."""

from __future__ import annotations

import torch
from torch import nn

from harness.config.registry import learner_class
from harness.errors import ReachError
from learners import Learner, LearnerOptionError
from tasks import Task


class SequenceModel(nn.Module):
    """Token embedding (or a linear map of float features), a learner, and a linear head.

    forward(inputs) returns [B, L, output_size] logits (classification) or values (regression).
    """

    def __init__(self, task: Task, learner: Learner) -> None:
        super().__init__()
        d = learner.d_model
        if task.n_features:
            self.encoder: nn.Module = nn.Linear(task.n_features, d)
        else:
            self.encoder = nn.Embedding(task.input_vocab, d)
        self.learner = learner
        self.head = nn.Linear(d, task.output_size)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.learner(self.encoder(inputs)))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_model(task: Task, learner: str, d_model: int, n_layers: int, options: dict) -> SequenceModel:
    cls = learner_class(learner)
    try:
        core = cls(d_model=d_model, n_layers=n_layers, max_len=task.seq_len, **options)
    except LearnerOptionError as exc:
        raise ReachError(str(exc)) from None
    return SequenceModel(task, core)


def solve_width(task: Task, learner: str, n_layers: int, options: dict, budget: int) -> int:
    """The largest d_model (a multiple of 8) whose whole model has at most ``budget`` parameters.

    Parameter counts grow monotonically with width for every learner, so a bisection over multiples of 8
    finds it. Raises ReachError when even d_model = 8 is over budget.
    """
    def params(width: int) -> int:
        return count_parameters(build_model(task, learner, width, n_layers, options))

    if params(8) > budget:
        raise ReachError(f"param_budget {budget} is too small for {learner} (d_model 8 already has "
                         f"{params(8)} parameters)")
    lo, hi = 1, 2
    while params(8 * hi) <= budget:
        lo, hi = hi, hi * 2
        if hi > 4096:
            break
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if params(8 * mid) <= budget:
            lo = mid
        else:
            hi = mid
    return 8 * lo
