"""Noise: when is a difference between two sides' seeds larger than the seeds' own spread?

The gate (``compare``) and the noise floor (``noise-floor``) ask it of one cell (task configuration, learner
configuration, rung) at a time, of its solved seeds and of its test accuracies. The answer is an exact one-sided
permutation test: under "no change" (the code is the same; only the seeds, the CPU's floating-point kernels or the
order of sums differ) every run of the cell is as likely to have landed on either side, so the p-value of what BASE
and NEW show is the fraction of the ways to deal the pooled runs out to two sides of the same sizes in which BASE
comes out at least as good as it did. For solved-or-not this is Fisher's exact test (a hypergeometric tail); for
accuracy, the same test on the sum (the mean) of the side.

A side is *worse beyond noise* when that p-value is at most ``alpha``; where the seeds are too few for any outcome
to reach ``alpha`` (two seeds a side: the least p is 1/C(4, 2) = 1/6), when the outcome is the most extreme there
is, i.e. no NEW seed as good as any BASE seed. A cell whose seeds split (some solved, some not) on either side is
therefore within noise at two seeds a side, whatever the other side shows.

No scipy: the tails are sums of binomial coefficients (math.comb), the permutation test enumerates the deals
(a fixed-seed sample of them beyond ``MAX_DEALS``), and the Wilson interval is its closed form.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ALPHA = 0.05  # the default level of the one-sided tests
MAX_DEALS = 20_000  # beyond this many ways to deal the pooled runs, a fixed-seed sample of that many
TOLERANCE = 1e-12  # sums of accuracies equal up to rounding count as equal (ties go against the change)
Z95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval


def fisher_worse(solved_base: int, runs_base: int, solved_new: int, runs_new: int) -> float:
    """One-sided p of Fisher's exact test that NEW solves less often than BASE: the probability that, dealing the
    runs_base + runs_new runs (solved_base + solved_new of them solved) at random to two sides of those sizes, BASE
    gets at least solved_base of the solved ones. 1.0 when a side has no runs."""
    if runs_base <= 0 or runs_new <= 0:
        return 1.0
    total, solved = runs_base + runs_new, solved_base + solved_new
    top = sum(math.comb(solved, k) * math.comb(total - solved, runs_base - k)
              for k in range(solved_base, min(solved, runs_base) + 1))
    return top / math.comb(total, runs_base)


def permutation_worse(base: Sequence[float], new: Sequence[float]) -> float:
    """One-sided p of the exact permutation test that NEW's mean is below BASE's: the fraction of the deals of the
    pooled values to sides of len(base) and len(new) values whose BASE sum is at least the observed one (exact up to
    MAX_DEALS deals, else estimated from a fixed-seed sample of MAX_DEALS of them, counting the observed deal, so
    never 0). 1.0 when a side is empty."""
    if not base or not new:
        return 1.0
    pooled = [float(v) for v in (*base, *new)]
    observed = sum(float(v) for v in base) - TOLERANCE
    n, k = len(pooled), len(base)
    if math.comb(n, k) <= MAX_DEALS:
        deals = itertools.combinations(range(n), k)
        return sum(sum(pooled[i] for i in deal) >= observed for deal in deals) / math.comb(n, k)
    rng = random.Random(0)
    hits = sum(sum(pooled[i] for i in rng.sample(range(n), k)) >= observed for _ in range(MAX_DEALS))
    return (hits + 1) / (MAX_DEALS + 1)  # the observed deal is one of them: a sampled p is never 0


def least_p(runs_base: int, runs_new: int) -> float:
    """The smallest p-value the tests can give with these many runs a side: 1 / C(runs_base + runs_new, runs_base),
    the chance that the best runs all land on BASE's side (1/2 with one seed a side, 1/6 with 2, 1/20 with 3)."""
    if runs_base <= 0 or runs_new <= 0:
        return 1.0
    return 1.0 / math.comb(runs_base + runs_new, runs_base)


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default): (0.0, 1.0) when there are no trials."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Evidence:
    """The outcome of one one-sided test of "NEW is worse than BASE" on one cell.

    ``p``: the test's p-value; ``least``: the smallest p these many runs allow; ``level``: the level it is held to,
    max(alpha, least) (the strictest level the runs can meet); ``apart``: no NEW run as good as any BASE run (the most
    extreme outcome; then p == least); ``beyond``: p <= level, i.e. worse beyond noise."""

    p: float
    least: float
    alpha: float
    apart: bool
    runs_base: int
    runs_new: int

    @property
    def level(self) -> float:
        return max(self.alpha, self.least)

    @property
    def beyond(self) -> bool:
        return self.runs_base > 0 and self.runs_new > 0 and self.p <= self.level + TOLERANCE


def solved_test(solved_base: int, runs_base: int, solved_new: int, runs_new: int, alpha: float = ALPHA) -> Evidence:
    """Is NEW's count of solved seeds lower than BASE's beyond noise? (Fisher's exact test.)"""
    return Evidence(p=fisher_worse(solved_base, runs_base, solved_new, runs_new), least=least_p(runs_base, runs_new),
                alpha=alpha, apart=runs_base > 0 and runs_new > 0 and solved_base == runs_base and solved_new == 0,
                runs_base=runs_base, runs_new=runs_new)


# A run "at chance" scores no more than the memoryless baseline plus this many binomial standard errors of its
# test answers: a learner that learned nothing, whose score moves only with the test stream it was drawn on.
CHANCE_Z = 2.0


def chance_top(baseline: float | None, scored: int | None) -> float:
    """The highest test accuracy still at chance for a run whose memoryless baseline accuracy is ``baseline`` over
    ``scored`` test answers (NaN when either is unknown)."""
    if baseline is None or not scored or math.isnan(baseline):
        return math.nan
    return baseline + CHANCE_Z * math.sqrt(baseline * (1 - baseline) / scored)


def accuracy_test(base: Sequence[float], new: Sequence[float], alpha: float = ALPHA) -> Evidence:
    """Is NEW's mean test accuracy lower than BASE's beyond noise? (The exact permutation test on the mean.)"""
    apart = bool(base) and bool(new) and max(new) < min(base)
    return Evidence(p=permutation_worse(base, new), least=least_p(len(base), len(new)), alpha=alpha, apart=apart,
                runs_base=len(base), runs_new=len(new))


# -- machines: what decides the bits of a result besides the code and the seed ------------------------------

# Each as env.json names it: runs that agree on all four (and on code, seed and spec) agree to the bit.
MACHINE = (("CPU", lambda env: env.get("cpu")),
           ("torch CPU kernels", lambda env: env.get("cpu_capability")),
           ("torch", lambda env: (env.get("versions") or {}).get("torch")),
           ("threads per run", lambda env: env.get("torch_threads_per_run")))


def machine_differences(env_b: dict[str, Any], env_n: dict[str, Any]) -> tuple[list[tuple[str, Any, Any]], bool]:
    """(what differs between two env.json: (name, BASE, NEW) for each of MACHINE known on both sides and different;
    whether the CPU is known on both sides)."""
    differ = [(name, get(env_b), get(env_n)) for name, get in MACHINE
              if get(env_b) is not None and get(env_n) is not None and get(env_b) != get(env_n)]
    return differ, bool(env_b.get("cpu")) and bool(env_n.get("cpu"))

