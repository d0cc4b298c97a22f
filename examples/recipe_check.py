"""Schedule x budget at the rungs where the cosine recipe stopped the main study (README: "The main study's answer").

The long-range study of 2026-11-26 (cosine schedule, 500 steps) first failed gru at 128, mamba at 64, lstm at 32,
rnn at 8 and lru at 256. This trains each of those learners, at that rung and with today's long-range settings
(learning rate, width, batch), under both schedules at 500 and at 2,000 steps, seeds 0 and 1, and writes the runs to
a results folder that ``python run.py report`` and pandas read. A constant-schedule run of 2,000 steps takes its
first 500 steps exactly as a 500-step run does, so its steps to solve say whether 500 would have sufficed.

    python examples/recipe_check.py [--out results/baselines/recipe-check] [--workers 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.config.builtin import STUDY_DEFAULTS, STUDY_LEARNERS  # noqa: E402
from harness.config.spec import RunSpec  # noqa: E402
from harness.run.executors import ProcessPoolExecutor  # noqa: E402
from harness.store.folder import ResultsFolder, read_runs  # noqa: E402

RUNGS = {"gru": 128, "mamba": 64, "lstm": 32, "rnn": 8, "lru": 256}  # the 2026-11-26 baseline's first failures
RECIPES = [("cosine", 500), ("cosine", 2000), ("constant", 2000)]
SEEDS = [0, 1]


def specs() -> list[RunSpec]:
    out = []
    for entry in STUDY_LEARNERS:
        if entry["name"] not in RUNGS:
            continue
        for schedule, steps in RECIPES:
            for seed in SEEDS:
                fields = {**STUDY_DEFAULTS, **{k: v for k, v in entry.items() if k not in ("name", "options")}}
                fields.update(task="hold", distance=RUNGS[entry["name"]], learner=entry["name"], seed=seed,
                              learner_options=dict(entry.get("options") or {}), schedule=schedule, steps=steps,
                              label=f"{entry['name']}[{schedule},{steps}]")
                out.append(RunSpec.from_dict(fields))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/recipe-check")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with ResultsFolder(Path(args.out)) as folder:
        have = {r.id for r in folder.existing}
        todo = [s for s in specs() if s.id not in have]
        pool = ProcessPoolExecutor(args.workers)
        futures = {pool.submit(s): s for s in sorted(todo, key=lambda s: -s.distance * s.steps)}
        for fut in cf.as_completed(futures):
            record = fut.result()
            record.checkpoint = None
            folder.append(record)
            acc = "n/a" if record.test_accuracy is None else f"{record.test_accuracy:.3f}"
            print(f"{record.label} hold {record.distance} seed {record.seed}: {record.outcome.value}"
                  f" (steps to solve {record.steps_to_solve}, test accuracy {acc})", flush=True)
        pool.shutdown()
    print(table(read_runs(Path(args.out))))
    return 0


def table(records) -> str:
    """The markdown table the README quotes: per learner and recipe, seeds solved, steps to solve, test accuracy."""
    rows = ["| learner @ distance | recipe | solved (of seeds) | steps to solve | test accuracy |",
            "|---|---|---|---|---|"]
    wanted = {s.id: s for s in specs()}
    for entry in STUDY_LEARNERS:
        name = entry["name"]
        if name not in RUNGS:
            continue
        for schedule, steps in RECIPES:
            runs = sorted((r for r in records if r.id in wanted and wanted[r.id].learner == name
                           and wanted[r.id].schedule == schedule and wanted[r.id].steps == steps),
                          key=lambda r: r.seed)
            solved = sum(r.steps_to_solve is not None for r in runs)
            sts = ", ".join("—" if r.steps_to_solve is None else f"{r.steps_to_solve:,}" for r in runs)
            accs = ", ".join("n/a" if r.test_accuracy is None else f"{r.test_accuracy:.2f}" for r in runs)
            rows.append(f"| {name} @ {RUNGS[name]} | {schedule}, {steps:,} | {solved}/{len(runs)} | {sts} | {accs} |")
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
