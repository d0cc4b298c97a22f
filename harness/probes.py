"""Probes: measurements of structure and cost that need no training (filled in by the probes work)."""

from __future__ import annotations

import difflib
from typing import Any

from harness.errors import ReachError

PROBES: dict[str, Any] = {}


def validate_probes(probes: dict[str, dict[str, Any]], where: str) -> None:
    if not isinstance(probes, dict):
        raise ReachError(f"{where}: 'probes' must be a table of probe name -> options")
    for name, options in probes.items():
        if name not in PROBES:
            near = difflib.get_close_matches(name, list(PROBES), n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise ReachError(f"{where}: unknown probe '{name}'{hint}; known: {', '.join(PROBES) or 'none'}")
        if not isinstance(options, dict):
            raise ReachError(f"{where}: probe '{name}' options must be a table")
