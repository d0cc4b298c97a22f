"""The gradient probe: G(k) = mean ||∂h_t/∂x_{t-k}||_F, the learner's gradient path length, at initialisation and
after training on lag (definitions: harness.measure.probes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from harness.config.probes import PROBES
from harness.config.spec import RunSpec
from harness.measure.probe_learners import INPUT_SEED, ProbeLearner, probe_learners
from harness.run.jacobian import gradient_profile
from harness.run.model import build_model
from harness.run.train import MODEL_INIT, stream_seed, train

__all__ = ["gradient_profile", "profile_summary", "measure_gradient", "gradient_rows"]


def profile_summary(G: np.ndarray, reach_threshold: float = 1e-3) -> dict[str, Any]:
    """Measured receptive field, gradient reach and decay rate of a profile G(k) (definitions above).

    ``receptive_field_measured`` is 1 + the largest k with G(k) > 0; ``receptive_field_bounded`` says whether
    G reached exactly 0 within the probed length (when False the field is only known to be >= n).
    """
    G = np.asarray(G, dtype=float)
    n = len(G)
    positive = np.flatnonzero(G > 0)
    last = int(positive[-1]) if len(positive) else -1
    top = float(G[1:].max()) if n > 1 else 0.0
    reach = int(np.flatnonzero(G[1:] >= reach_threshold * top)[-1]) + 1 if top > 0 else 0
    K = max(2, last // 2)
    ks = np.arange(1, min(K, n - 1) + 1)
    ks = ks[G[ks] > 0]
    decay = float(-np.polyfit(ks, np.log10(G[ks]), 1)[0]) if len(ks) >= 2 else float("nan")
    return {"receptive_field_measured": last + 1, "receptive_field_bounded": bool(last < n - 1),
            "gradient_reach": reach, "decay_rate": decay, "G0": float(G[0]) if n else float("nan"),
            "G_last": float(G[-1]) if n else float("nan")}


def _gradient_spec(suite: Any, pl: ProbeLearner, opts: dict[str, Any]) -> RunSpec:
    fields = dict(suite.defaults)
    fields.update({k: v for k, v in pl.entry.items() if k not in ("name", "options")})
    fields.update(task="lag", distance=opts["distance"], seq_len=opts["length"], learner=pl.name,
                  learner_options=dict(pl.options), steps=max(1, opts["train_steps"]), seed=suite.seeds[0],
                  param_budget=None, task_params={})
    return RunSpec.from_dict(fields, where=f"probe gradient ({pl.label})")


def measure_gradient(suite: Any, opts: dict[str, Any], log: Callable[[str], None] = print) -> pd.DataFrame:
    """The gradient probe over a suite's learners: one row per (learner, phase, k); see the module docstring.

    The initial model is built exactly as ``harness.run.train.train`` builds it for the same spec (lag at
    ``distance``, sequence length ``length``, the suite's first seed), so "init" is the trained model's
    starting point. ``train_steps`` > 0 trains it with ``train(spec, return_model=True)`` (early stopping
    on validation as in any run) and measures the trained learner on the same inputs.
    """
    opts = PROBES["gradient"].resolve(opts, "probe gradient")
    rows = []
    for pl in probe_learners(suite):
        learner_rows, message = gradient_rows(suite, pl, opts)
        if message:
            log(message)
        rows += learner_rows
    return pd.DataFrame(rows)


def gradient_rows(suite: Any, pl: ProbeLearner, opts: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The gradient probe of one learner (``opts`` resolved): its rows of gradient.csv, and the line that says
    how its training went (None without training). Each learner is independent of the others, so
    ``harness.measure.probes`` may run them in parallel processes with the same numbers."""
    n = opts["length"]
    rows, message = [], None
    spec = _gradient_spec(suite, pl, opts)
    task = spec.task_obj
    tokens = task.sample(opts["batch"], torch.Generator().manual_seed(INPUT_SEED)).inputs
    torch.manual_seed(stream_seed(spec.seed, MODEL_INIT))
    models = [("init", build_model(task, spec.learner, spec.d_model, spec.n_layers, spec.learner_options), None)]
    if opts["train_steps"] > 0:
        t0 = time.perf_counter()
        record, trained = train(spec, return_model=True)
        message = (f"  gradient: trained {pl.label} on lag {opts['distance']} (n={n}): {record.outcome}, "
                   f"test accuracy {record.test_accuracy:.3f}, {record.steps_run} steps, "
                   f"{time.perf_counter() - t0:.1f} s")
        models.append(("trained", trained, record))
    for phase, model, record in models:
        model = model.to("cpu", torch.float64).eval()
        with torch.no_grad():
            x = model.encoder(tokens)
        G = gradient_profile(model.learner, x, opts["projections"], torch.Generator().manual_seed(INPUT_SEED + 1))
        for k, g in enumerate(G):
            rows.append({"learner": pl.label, "name": pl.name, "family": pl.cls.family, "phase": phase,
                         "k": k, "G": float(g), "n": n, "batch": opts["batch"],
                         "projections": opts["projections"], "dtype": "float64", "d_model": spec.d_model,
                         "n_layers": spec.n_layers, "distance": opts["distance"],
                         "train_steps": record.steps_run if record else 0,
                         "test_accuracy": record.test_accuracy if record else float("nan"),
                         "outcome": str(record.outcome) if record else ""})
    return rows, message
