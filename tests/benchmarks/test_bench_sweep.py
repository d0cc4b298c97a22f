"""End to end: a tiny suite (three learners, lag at distance 4, 20 steps) through harness.run.sweep.run_suite on the
in-process executor, into a fresh results folder per round (a reused folder would resume and skip every run)."""

import itertools

from harness.config.suites import Suite
from harness.run.executors import InProcessExecutor
from harness.run.sweep import run_suite

SUITE = {
    "name": "bench-smoke", "seeds": [0], "prune": False,
    "defaults": {"d_model": 16, "n_layers": 1, "steps": 20, "eval_every": 10, "batch_size": 8, "val_batches": 1,
                 "test_batches": 1},
    "learners": [{"name": "lstm"}, {"name": "tcn"}, {"name": "transformer"}],
    "tasks": [{"name": "lag", "distances": [4]}],
}


def test_smoke_sweep(benchmark, tmp_path):
    suite = Suite.from_dict(SUITE, where="benchmark suite")
    folders = (tmp_path / f"round-{i}" for i in itertools.count())
    benchmark.group = "sweep"

    def fresh_folder():
        return (suite, next(folders), InProcessExecutor(), "pytest tests/benchmarks"), {}

    result = benchmark.pedantic(run_suite, setup=fresh_folder, rounds=3, warmup_rounds=0)
    records = result.records
    assert [r.label for r in records] == ["lstm", "tcn", "transformer"]
    assert all(r.outcome in ("solved", "unsolved") for r in records), [r.error for r in records]
    tokens = sum(r.steps_run for r in records) * 8 * records[0].seq_len
    benchmark.extra_info.update({"runs": len(records), "tokens": tokens})
    if benchmark.stats is not None:
        benchmark.extra_info["tokens_per_s"] = tokens / benchmark.stats.stats.median
