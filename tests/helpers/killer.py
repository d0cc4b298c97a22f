"""A learner whose construction kills its own process once: a worker that dies mid-run, for executor tests."""

import os
import signal
from pathlib import Path

import torch
from torch import nn

from learners import Learner


class KillsWorkerOnce(Learner):
    """A per-position linear map (causal, trains normally), except that the first construction SIGKILLs the
    process it runs in: when ``marker`` (a file path) does not exist yet, it is created and the process killed,
    so a retry of the same run finds the marker and trains. ``driver_pid`` names the process that must never be
    killed (the test itself, should it ever build the model in-process)."""

    name = "kills-worker-once"
    family = "recurrent"
    summary = "kills its worker process on the first attempt"
    theory = {"complexity": "-", "sequential_ops": "-", "max_path_length": "-"}
    OPTIONS = {"marker": "", "driver_pid": 0}

    def __init__(self, d_model: int, n_layers: int, max_len: int = 1024, **options) -> None:
        super().__init__(d_model, n_layers, max_len, **options)
        self.mix = nn.Linear(d_model, d_model)
        marker = Path(self.options["marker"])
        if self.options["marker"] and not marker.exists() and os.getpid() != self.options["driver_pid"]:
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(x)

    def max_path_length(self, n: int) -> int:
        return 1

    def sequential_ops(self, n: int) -> int:
        return 1

    def receptive_field(self, n: int) -> int:
        return 1
