"""The probes' options: each probe's name, summary and options (default, check, what a valid value is).

Suites name their probes in a ``[probes.<name>]`` table (see harness.measure.probes for what each measures);
``validate_probes`` checks that table when the suite loads, before anything runs, and ``Probe.resolve`` merges a
probe's defaults with the options given. Unknown probes and options are errors that name the nearest valid one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.errors import ReachError
from harness.text import did_you_mean


# -- option validation ---------------------------------------------------------------------------------------
def _int(v: Any, lo: int = 1) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _ladder(v: Any) -> bool:
    return isinstance(v, list) and len(v) >= 2 and all(_int(x, 2) for x in v) and v == sorted(set(v))


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class Probe:
    """A probe's options (name -> (default, check, what a valid value is)) and one-line summary."""

    name: str
    summary: str
    options: dict[str, tuple[Any, Callable[[Any], bool], str]]
    # a check across options: resolved options -> an error message, or None when they fit together
    across: Callable[[dict[str, Any]], str | None] = lambda opts: None

    def defaults(self) -> dict[str, Any]:
        return {k: v[0] for k, v in self.options.items()}

    def resolve(self, given: dict[str, Any], where: str) -> dict[str, Any]:
        """Defaults merged with ``given``; an unknown option or a bad value raises ReachError naming it."""
        for key, value in given.items():
            if key not in self.options:
                hint = did_you_mean(key, self.options)
                raise ReachError(f"{where}: probe '{self.name}' has no option '{key}'{hint}; valid options: "
                                 f"{', '.join(self.options)}")
            _, check, allowed = self.options[key]
            if not check(value):
                raise ReachError(f"{where}: probe '{self.name}' option '{key}' must be {allowed}, got {value!r}")
        resolved = {**self.defaults(), **given}
        problem = self.across(resolved)
        if problem:
            raise ReachError(f"{where}: probe '{self.name}': {problem}")
        return resolved


PROBES: dict[str, Probe] = {
    "gradient": Probe("gradient", "G(k) = mean ||dh_t/dx_{t-k}||, at initialisation and after training on lag", {
        "length": (128, lambda v: _int(v, 2), "an int >= 2 (the sequence length n of the profile)"),
        "batch": (4, _int, "an int >= 1 (sequences averaged)"),
        "projections": (16, lambda v: _int(v, 0), "an int >= 0 (0: exact Jacobian rows; P: P random projections)"),
        "train_steps": (300, lambda v: _int(v, 0), "an int >= 0 (0: at initialisation only)"),
        "distance": (16, _int, "an int >= 1 (the lag distance trained on)"),
        "reach_threshold": (1e-3, lambda v: _number(v) and 0 < v < 1, "a number in (0, 1)"),
    }, across=lambda o: None if o["distance"] < o["length"] else
        f"distance ({o['distance']}) must be shorter than length ({o['length']}): the lag task trains on sequences "
        f"of the probed length"),
    "throughput": Probe("throughput", "tokens/s forward and forward+backward at fixed tokens per batch; "
                                      "batch-1 latency; over n", {
        "lengths": ([64, 128, 256, 512, 1024], _ladder, "an ascending list of at least 2 distinct ints >= 2"),
        "tokens": (4096, _int, "an int >= 1 (tokens per batch; batch = tokens // n, at least 1)"),
        "warmup": (1, lambda v: _int(v, 0), "an int >= 0"),
        "repeats": (5, _int, "an int >= 1"),
        "threads": (1, _int, "an int >= 1 (torch threads while timing)"),
        "devices": (["cpu"], lambda v: isinstance(v, list) and len(v) >= 1 and all(x in ("cpu", "cuda", "auto")
                                                                                     for x in v),
                    "a list of 'cpu', 'cuda', 'auto' ('auto': cuda when torch sees one)"),
        "fit_from": (None, lambda v: v is None or _int(v, 2), "None or an int >= 2 (smallest n of the latency fit)"),
    }),
    "flops": Probe("flops", "FlopCounterMode FLOPs of one sequence over n (fixed d) and over d (fixed n)", {
        "lengths": ([64, 128, 256, 512, 1024], _ladder, "an ascending list of at least 2 distinct ints >= 2"),
        "widths": ([32, 64, 128, 256], _ladder, "an ascending list of at least 2 distinct ints >= 2"),
        "length_at": (256, lambda v: _int(v, 2), "an int >= 2 (n of the width sweep)"),
        "backward": (True, lambda v: isinstance(v, bool),
                     "true or false (also count forward+backward at length_at and d_model)"),
    }),
}


def validate_probes(probes: dict[str, dict[str, Any]], where: str) -> None:
    """Raise ReachError for an unknown probe name, a non-table, an unknown option or a bad option value."""
    if not isinstance(probes, dict):
        raise ReachError(f"{where}: 'probes' must be a table of probe name -> options")
    for name, options in probes.items():
        if name not in PROBES:
            hint = did_you_mean(name, PROBES)
            raise ReachError(f"{where}: unknown probe '{name}'{hint}; known: {', '.join(PROBES) or 'none'}")
        if not isinstance(options, dict):
            raise ReachError(f"{where}: probe '{name}' options must be a table")
        PROBES[name].resolve(options, where)
