"""Learners defined outside reach's packages, used to test failure handling and external loading."""

import torch

from learners import Learner


class Exploding(Learner):
    """A learner whose forward pass raises: the sweep must record the error and go on."""

    name = "exploding"
    family = "recurrent"
    summary = "raises in forward"
    theory = {"complexity": "-", "sequential_ops": "-", "max_path_length": "-"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")

    def max_path_length(self, n: int) -> int:
        return n

    def sequential_ops(self, n: int) -> int:
        return n

    def receptive_field(self, n: int) -> None:
        return None
