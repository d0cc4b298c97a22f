"""``python run.py gpu-check``: the GPU path, exercised end to end on a machine with CUDA, in one command.

In order, each step timed and written to ``OUT/gpu-check.md`` (and printed):

1. the CUDA tests (``pytest -m cuda`` with REACH_REQUIRE_CUDA=1, so a skip is a failure);
2. ``steps`` (300) training steps of every learner of the suite on the GPU (hold, one item, distance 64), batches
   made on the GPU, early stopping off: seconds, tokens/s and test accuracy per learner;
3. the Table 1 probes on CPU and GPU (``devices = ["cpu", "cuda"]``): batch-1 latency against n is where
   "O(1) sequential operations" should show; ``OUT/probes/``, ``OUT/table1.csv``;
4. the suite (default ``long-range``) on the GPU (``device = "cuda"`` for every run, ``workers`` processes sharing
   the GPU) with its wall time, then its report.

It needs nothing beyond the requirements files and torch's own CUDA build. Without a CUDA device it stops with one
line (exit 2) before doing anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from harness.config.builtin import TABLE1_PROBES
from harness.config.spec import RunSpec
from harness.config.suites import Suite, load_suite
from harness.errors import ReachError
from harness.measure.probes import run_probes
from harness.report.finish import finish_sweep
from harness.run.executors import make_executor
from harness.run.sweep import run_suite
from harness.run.train import train
from harness.store.folder import write_atomic
from harness.store.provenance import REPO_ROOT, environment
from harness.text import console

CHECK_TASK = {"task": "hold", "distance": 64}


def cuda_tests(log: Path) -> tuple[int, str]:
    """Run the CUDA-marked tests, their output into ``log``; (exit code, the summary line)."""
    env = {**os.environ, "REACH_REQUIRE_CUDA": "1"}
    # addopts cleared: the check needs no pytest plugin beyond pytest itself
    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-o", "addopts=", "-p",
                           "no:cacheprovider", "-rf", "tests/test_cuda.py"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    write_atomic(log, proc.stdout + proc.stderr)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, lines[-1] if lines else proc.stderr.strip()[-400:]


def learner_steps(suite: Suite, steps: int, device: str = "cuda") -> list[dict[str, Any]]:
    """``steps`` training steps of every learner of ``suite`` on ``device``, no early stop."""
    rows = []
    for entry in suite.learners:
        fields = {k: v for k, v in suite.defaults.items() if k in RunSpec.field_names()}
        fields.update({k: v for k, v in entry.items() if k not in ("name", "options", "label")})
        spec = RunSpec.from_dict({**fields, **CHECK_TASK, "learner": entry["name"],
                                  "learner_options": dict(entry.get("options") or {}), "steps": steps,
                                  "eval_every": steps, "device": device, "seed": 0, "solve_threshold": 1.0})
        record = train(spec)
        rows.append({"learner": spec.label, "seconds": record.wall_seconds, "tokens_per_s": record.tokens_per_s,
                     "accuracy": record.test_accuracy, "outcome": str(record.outcome), "device": record.device})
    return rows


def gpu_check(out: Path, suite_name: str = "long-range", workers: int = 4, steps: int = 300,
              skip_suite: bool = False, device: str = "cuda") -> int:
    """Run the check into ``out``; 0 when the CUDA tests passed. ``device`` other than "cuda" (the tests' CPU
    rehearsal) skips the CUDA tests and times the probes on the CPU only."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ReachError("gpu-check needs a CUDA device, and torch sees none; install torch's CUDA build "
                         "(README: GPU) on a machine with a GPU")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = console()
    name = torch.cuda.get_device_name(0) if device == "cuda" else device
    report: list[str] = [f"# reach gpu-check: {name}", "",
                         f"torch {torch.__version__}, CUDA {torch.version.cuda}, {os.cpu_count()} CPU cores", ""]

    def section(title: str, lines: list[str], seconds: float) -> None:
        block = [f"## {title} ({seconds:.0f} s)", "", *lines, ""]
        report.extend(block)
        say.print("\n".join(block), markup=False)
        write_atomic(out / "gpu-check.md", "\n".join(report))

    code = 0
    if device == "cuda":
        t0 = time.perf_counter()
        code, summary = cuda_tests(out / "cuda-tests.log")
        section("CUDA tests (pytest -m cuda)", [f"exit {code}: {summary} (output: cuda-tests.log)"],
                time.perf_counter() - t0)

    suite = load_suite(suite_name)
    t0 = time.perf_counter()
    rows = learner_steps(suite, steps, device)
    lines = [f"{steps} steps each on {CHECK_TASK['task']} at distance {CHECK_TASK['distance']}, batches made on the "
             f"GPU:", "", "| learner | seconds | tokens/s | test accuracy | device |", "|---|---:|---:|---:|---|"]
    lines += [f"| {r['learner']} | {r['seconds']:.1f} | {r['tokens_per_s']:,.0f} | {r['accuracy']:.3f} | "
              f"{r['device']} |" for r in rows]
    section(f"Every learner on {device}", lines, time.perf_counter() - t0)

    t0 = time.perf_counter()
    probes = {**TABLE1_PROBES, "throughput": {**TABLE1_PROBES["throughput"],
                                              "devices": list(dict.fromkeys(["cpu", device]))}}
    probe_suite = Suite.from_dict({**suite.to_dict(), "name": "gpu-check-probes", "tasks": [], "probes": probes},
                                  where="gpu-check probes")
    table = run_probes(probe_suite, out, say)["table1"]
    lines = ["| learner | latency ~ n^ (CPU, 1 thread) | latency ~ n^ (GPU) | ms at n max (CPU) | ms at n max (GPU) |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {r.learner} | {r.latency_slope_n:.2f} | {r.get('latency_slope_n_cuda', float('nan')):.2f} | "
              f"{r.latency_ms_max_n:.1f} | {r.get('latency_ms_max_n_cuda', float('nan')):.1f} |"
              for _, r in table.iterrows()]
    section("Table 1 probes on CPU and GPU", lines, time.perf_counter() - t0)

    if not skip_suite:
        gpu_suite = suite.override(device=device)
        executor = make_executor("process-pool", workers)
        t0 = time.perf_counter()
        try:
            result = run_suite(gpu_suite, out / suite_name, executor, f"python run.py gpu-check --suite {suite_name}")
        finally:
            executor.shutdown()
        wall = time.perf_counter() - t0
        finish_sweep(gpu_suite, result)
        section(f"{suite_name} on {device}", [f"{len(result.records)} runs with {workers} worker processes sharing the "
                                            f"GPU: {wall:.0f} s wall time for the runs; counts {result.counts}",
                                            f"results and report: {out / suite_name}"], time.perf_counter() - t0)
    env = environment()
    write_atomic(out / "gpu-check.md", "\n".join(report + [f"environment: {env}"]))
    say.print(f"gpu-check: {out / 'gpu-check.md'}")
    return 0 if code == 0 else 1
