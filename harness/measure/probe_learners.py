"""The learners a suite's probes measure: one per distinct label, built bare (no encoder or head) as the
suite describes them, and the probes' own input stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from harness.config.registry import learner_class
from harness.config.spec import RunSpec
from harness.errors import ReachError
from learners import Learner, LearnerOptionError

INPUT_SEED = 20_000_003  # the probes' own token stream: never one of a run's streams (4·seed + 0..3)


# -- learners of a suite -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeLearner:
    """One learner entry of a suite, as the probes build it."""

    label: str
    name: str
    options: dict[str, Any]
    d_model: int
    n_layers: int
    entry: dict[str, Any]  # the suite's learner entry (RunSpec field overrides such as lr)

    @property
    def cls(self) -> type[Learner]:
        return learner_class(self.name)

    def build(self, max_len: int, d_model: int | None = None, seed: int = 0) -> torch.nn.Module:
        """The bare learner (no encoder or head), initialised under torch.manual_seed(seed)."""
        torch.manual_seed(seed)
        try:
            return self.cls(d_model=d_model or self.d_model, n_layers=self.n_layers, max_len=max_len,
                            **self.options)
        except LearnerOptionError as exc:
            raise ReachError(f"probe learner {self.label} at d_model={d_model or self.d_model}: {exc}") from None


def probe_learners(suite: Any) -> list[ProbeLearner]:
    """The suite's learners, one per distinct label (the first entry wins when two share a label)."""
    if not suite.learners:
        raise ReachError(f"suite '{suite.name}': probes need at least one [[learners]] entry")
    out: dict[str, ProbeLearner] = {}
    for entry in suite.learners:
        options = dict(entry.get("options", {}))
        label = RunSpec(task="lag", distance=1, learner=entry["name"], learner_options=options).label
        if label in out:
            continue
        d = entry.get("d_model", suite.defaults.get("d_model", 64))
        layers = entry.get("n_layers", suite.defaults.get("n_layers", 2))
        out[label] = ProbeLearner(label, entry["name"], options, int(d), int(layers), dict(entry))
    return list(out.values())
