"""Words and numbers for people: the one "did you mean" hint, the one number formatter, the one console.

Everything reach prints or writes for a reader goes through these, so a missing value reads the same ("—")
in the console, in ``compare`` and in the report, and a misspelt name gets the same hint everywhere.
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console

MISSING = "—"
# A pipe or CI log has no terminal width; rich would fold tables to 80 columns and cut learner labels.
LOG_WIDTH = 200


def did_you_mean(name: str, known: Iterable[str], form: str = " (did you mean '{}'?)") -> str:
    """The hint for a misspelt ``name``: ``form`` filled with the nearest of ``known``, or "" when none is near."""
    near = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return form.format(near[0]) if near else ""


def is_missing(value: Any) -> bool:
    """None, NaN, an infinity or pandas' NA: a value with nothing to show."""
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def fmt(value: Any, spec: str = ".3f") -> str:
    """``value`` formatted with the format ``spec`` ('.3f', ',.0f', ...), or MISSING when it has no value."""
    return MISSING if is_missing(value) else format(value, spec)


def fmt_int(value: Any) -> str:
    """An integer with thousands separators ('12,345'), or MISSING."""
    return MISSING if is_missing(value) else f"{int(value):,}"


def fmt_rate(value: Any) -> str:
    """A rate compactly ('12.3k' above a thousand, '812' below), or MISSING."""
    if is_missing(value):
        return MISSING
    return f"{value / 1000:,.1f}k" if value >= 1000 else f"{value:,.0f}"


def fmt_seconds(value: Any) -> str:
    """Seconds as '12.3 s', '4.5 min' or '1.20 h' (unit chosen by size), or MISSING."""
    if is_missing(value):
        return MISSING
    value = float(value)
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.2f} h"


def fmt_duration(seconds: float) -> str:
    """A short duration with SI units ('3.2 ms', '41 µs'), for benchmark medians."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_values(values: list[Any]) -> str:
    """The distinct values of a list: '0.01', '0.001, 0.01', or a range '4–128' for three or more numbers."""
    seen = []
    for v in values:
        if v is not None and v not in seen:
            seen.append(v)
    if not seen:
        return MISSING
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seen) and len(seen) > 2:
        return f"{min(seen):g}–{max(seen):g}"
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in seen)


def join_names(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def console(file: Any = None) -> Console:
    """The console reach prints to: the terminal's width on a terminal, LOG_WIDTH columns in a pipe or log."""
    stream = file or sys.stdout
    return Console(file=stream, highlight=False, width=None if stream.isatty() else LOG_WIDTH)
