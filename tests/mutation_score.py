"""Print the mutation score per module from mutmut's results (run ``mutmut run`` first; README, "Contributing").

    python tests/mutation_score.py             killed/total per module and overall
    python tests/mutation_score.py --survivors  the same, then every mutant not killed (see them: mutmut show NAME)

A mutant counts as killed when a test failed on it (mutmut's "killed") or it ran past its time limit ("timeout": an
endless loop a test would hang on). Everything else counts against the score: "survived", "no tests" (no selected
test reaches the mutated function) and "not checked" (the run was interrupted before it). Reads mutmut's own
results under mutants/ (one ``.meta`` JSON file per mutated source file); run it from the repository root.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

# mutmut's exit codes: 1 and 3 a failing test, 36 and the SIGXCPU codes its time limit, 0 survived, 33 and 5 no tests
KILLED = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout"}
NOT_KILLED = {0: "survived", 33: "no tests", 5: "no tests", None: "not checked"}


def status(code: int | None) -> str:
    return KILLED.get(code) or NOT_KILLED.get(code) or f"other ({code})"


def scores(root: Path) -> dict[str, Counter]:
    """Per source file (a path such as harness/run/train.py): Counter of mutant statuses."""
    out: dict[str, Counter] = {}
    for meta in sorted(root.glob("**/*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if codes:
            out[str(meta.relative_to(root))[: -len(".meta")]] = Counter(status(c) for c in codes.values())
    return out


def survivors(root: Path) -> list[tuple[str, str]]:
    """(mutant name, status) of every mutant not killed, sorted by name."""
    out = []
    for meta in sorted(root.glob("**/*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if code not in KILLED:
                out.append((name, status(code)))
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survivors", action="store_true", help="list every mutant that was not killed")
    parser.add_argument("--root", default="mutants", help="mutmut's folder (default: mutants)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    per_file = scores(root)
    if not per_file:
        print(f"no mutmut results under {root}/; run `mutmut run` first", file=sys.stderr)
        return 2
    total = Counter()
    print(f"{'module':<34} {'killed':>7} / {'total':<6} {'score':>6}   not killed")
    for path, counts in per_file.items():
        total += counts
        killed, n = counts["killed"] + counts["timeout"], sum(counts.values())
        rest = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()) if k not in ("killed", "timeout"))
        print(f"{path:<34} {killed:>7} / {n:<6} {killed / n:>6.1%}   {rest}")
    killed, n = total["killed"] + total["timeout"], sum(total.values())
    print(f"{'overall':<34} {killed:>7} / {n:<6} {killed / n:>6.1%}")
    if args.survivors:
        print()
        for name, what in survivors(root):
            print(f"{what:<12} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
