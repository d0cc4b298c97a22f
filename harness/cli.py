"""Command line: ``python run.py --suite NAME`` (the main job), ``list``, ``train``, ``report``, ``compare``,
``noise-floor``.

Bad input raises ReachError anywhere below; ``main`` prints it as one line on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

from harness.config.builtin import BUILTIN_SUITES
from harness.config.spec import RunSpec, parse_options
from harness.config.suites import load_suite
from harness.errors import ReachError
from harness.report.compare import run_compare
from harness.report.noise import ALPHA
from harness.report.noise_floor import run_noise_floor
from harness.run.executors import make_executor
from harness.run.progress import SweepProgress
from harness.run.sweep import run_suite
from harness.run.train import train
from harness.store.folder import RUNS, default_out, folder_prefix, interrupted_out, read_runs
from harness.store.record import Outcome, RunRecord
from harness.store.table import write_tables
from learners import LEARNERS
from tasks import TASKS

SUBCOMMANDS = ("list", "train", "report", "compare", "noise-floor", "sweep", "gpu-check")


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (plus exit 2), not a usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ReachError(f"{message} (see `python {self.prog} --help`)")


def add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--d-model", type=int, help="width of the learner (default 64)")
    p.add_argument("--n-layers", type=int, help="depth of the learner (default 2)")
    p.add_argument("--lr", type=float, help="peak learning rate (AdamW)")
    p.add_argument("--batch-size", type=int, help="sequences per step (default 32)")
    p.add_argument("--threads", type=int, help="torch threads per run (default 1)")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), help="where to train (default cpu)")


def build_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one learner on one task and print the result")
    p.add_argument("--learner", required=True, help="registry name or package.module:Class")
    p.add_argument("--task", required=True, help="registry name or package.module:Class")
    p.add_argument("--distance", type=int, required=True, help="dependency distance")
    p.add_argument("--steps", type=int, default=2000, help="step budget (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seq-len", type=int, help="sequence length, for tasks whose length is free (lag, induction)")
    p.add_argument("--opt", action="append", metavar="NAME=VALUE", help="learner option, repeatable")
    p.add_argument("--task-opt", action="append", metavar="NAME=VALUE", help="task parameter, repeatable")
    p.add_argument("--param-budget", type=int, help="solve d_model so that the model has at most this many params")
    p.add_argument("--eval-every", type=int, help="validation interval in steps (default 100)")
    p.add_argument("--schedule", choices=("cosine", "constant"))
    p.add_argument("--max-seconds", type=float, help="wall-clock budget for training")
    p.add_argument("--length-factors", type=int_list, help="also score the trained model at these multiples of its "
                   "length, e.g. 2,4,8,16 (train short, test long)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    add_run_args(p)


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got '{text}'") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def name_list(text: str) -> list[str]:
    return [v for v in text.replace(",", " ").split() if v]


def build_sweep_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a suite (the default: python run.py --suite long-range)")
    p.add_argument("--suite", default="long-range", help="built-in suite name or path to a .toml file")
    p.add_argument("--seeds", type=int_list, help="e.g. 0,1,2 (replaces the suite's seeds)")
    p.add_argument("--learners", type=name_list, help="comma-separated learner names (filters/extends)")
    p.add_argument("--tasks", type=name_list, help="comma-separated task names")
    p.add_argument("--distances", type=int_list, help="e.g. 4,8,16 (replaces every task's distances)")
    p.add_argument("--steps", type=int, help="step budget for every run")
    p.add_argument("--workers", type=int, help="parallel runs (default: the number of cores)")
    p.add_argument("--out", help="results folder (default: results/<suite>-<timestamp>, or the newest "
                   "interrupted folder of the same suite, which is then resumed)")
    p.add_argument("--no-prune", action="store_true", help="run every distance even after a learner failed")
    p.add_argument("--no-report", action="store_true", help="skip the probes/report step at the end")
    p.add_argument("--executor", default="process-pool", choices=("process-pool", "in-process", "ray"))
    p.add_argument("--address", help="Ray cluster address (with --executor ray); default: a local Ray")
    p.add_argument("--cpus-per-run", type=float, default=1.0, help="Ray: CPUs per run (default 1)")
    p.add_argument("--gpus-per-run", type=float, default=0.0, help="Ray: GPUs per run (default 0)")
    p.add_argument("--retries", type=int, default=2, help="Ray: retries of a run lost to a dead worker")


def add_noise_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--alpha", type=float, default=ALPHA,
                   help=f"level of the one-sided exact tests that tell a change from noise (default {ALPHA:g})")


def make_parser() -> Parser:
    parser = Parser(prog="run.py", description="reach: how far back can a sequence learner reach? "
                    "Main job: python run.py --suite long-range")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    sub.add_parser("list", help="list learners, tasks and suites")
    build_train_parser(sub)
    build_sweep_parser(sub)
    p = sub.add_parser("report", help="rebuild report.html, summary.md and figures of a results folder")
    p.add_argument("folder", help="a results folder (also one whose sweep was interrupted)")
    p = sub.add_parser("compare", help="compare two results folders or two pytest-benchmark JSON files; "
                       "exit 1 on regression")
    p.add_argument("base", help="baseline: results folder or pytest-benchmark JSON")
    p.add_argument("new", help="candidate: results folder or pytest-benchmark JSON")
    p.add_argument("--max-accuracy-drop", type=float, default=0.02,
                   help="largest tolerated drop in mean test accuracy per (learner, task, distance)")
    p.add_argument("--max-slowdown", type=float, default=25.0,
                   help="largest tolerated slowdown in percent (throughput or benchmark median)")
    add_noise_args(p)
    p.add_argument("--strict", action="store_true",
                   help="compare exactly (one machine, torch build and thread count): any drop beyond the threshold "
                        "and any fall of reach fails, whatever the seeds' spread")
    p = sub.add_parser("noise-floor", help="how many cells flip by noise alone: two runs of one suite by the same "
                       "code (other seeds, or another machine), compared cell by cell and seed by seed")
    p.add_argument("--base", help="an existing results folder (A)")
    p.add_argument("--other", help="a second results folder of the same suite (B): other seeds, or the same seeds "
                   "on another machine; seeds are paired by position")
    p.add_argument("--suite", help="instead of --base/--other: run this suite twice (built-in name or .toml)")
    p.add_argument("--seeds", type=int_list, help="with --suite: seeds of the first run (default: the suite's)")
    p.add_argument("--other-seeds", type=int_list,
                   help="with --suite: seeds of the second run (default: as many, following the first's)")
    p.add_argument("--out", help="with --suite: where the two runs go (default results/noise-floor-<suite>-"
                   "<timestamp>); the same --out resumes them")
    p.add_argument("--workers", type=int, help="with --suite: parallel runs (default: the number of cores)")
    p.add_argument("--max-accuracy-drop", type=float, default=0.02,
                   help="the compare threshold whose false alarms are counted (default 0.02)")
    add_noise_args(p)
    p = sub.add_parser("gpu-check", help="on a CUDA machine: the CUDA tests, every learner on the GPU, the Table 1 "
                       "probes on CPU and GPU, and a suite on the GPU with its wall time")
    p.add_argument("--out", help="where to write (default: results/gpu-check-<timestamp>)")
    p.add_argument("--suite", default="long-range", help="the suite to run on the GPU (default long-range)")
    p.add_argument("--workers", type=int, default=4, help="processes sharing the GPU for the suite (default 4)")
    p.add_argument("--steps", type=int, default=300, help="training steps per learner in the per-learner check")
    p.add_argument("--skip-suite", action="store_true", help="stop after the probes")
    return parser


def cmd_list(args: argparse.Namespace) -> int:
    print("Learners:")
    for name, cls in LEARNERS.items():
        print(f"  {name:<16} {cls.family:<14} {cls.summary}")
    print("Tasks:")
    for name, cls in TASKS.items():
        print(f"  {name:<16} {cls.kind:<14} {cls.summary}")
    print("Suites:")
    for name, data in BUILTIN_SUITES.items():
        print(f"  {name:<16} {data.get('description', '')}")
    return 0


def terminated(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM ends a sweep like Ctrl-C: workers stopped, the same command resumes


def cmd_sweep(args: argparse.Namespace) -> int:
    # the report stage imports matplotlib and seaborn (about 2 s): only the commands that draw pay for it
    from harness.report.finish import finish_sweep

    suite = load_suite(args.suite)
    if any(v is not None for v in (args.seeds, args.learners, args.tasks, args.distances, args.steps)) \
            or args.no_prune:
        suite = suite.override(seeds=args.seeds, learners=args.learners, tasks=args.tasks,
                               distances=args.distances, steps=args.steps, prune=False if args.no_prune else None)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise ReachError(f"--workers must be >= 1, got {workers}")
    out = Path(args.out) if args.out else (interrupted_out(suite) or default_out(suite))
    extra = {}
    if args.executor == "ray":
        extra = {"address": args.address, "cpus_per_run": args.cpus_per_run, "gpus_per_run": args.gpus_per_run,
                 "retries": args.retries}
    executor = make_executor(args.executor, workers, **extra)
    command = "python run.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    signal.signal(signal.SIGTERM, terminated)
    result = sweep_into(suite, out, executor, command)
    # the probes run on this machine: as many processes as the sweep had, at most one per core
    return finish_sweep(suite, result, report=not args.no_report,
                        workers=min(executor.workers, os.cpu_count() or 1))


def sweep_into(suite: Any, out: Path, executor: Any, command: str) -> Any:
    """Run (or resume) ``suite`` into ``out`` on ``executor`` with the progress display, then shut the executor."""
    progress = SweepProgress()
    print(f"reach: suite '{suite.name}' -> {out} ({executor.name}, {executor.workers} worker(s))", flush=True)
    try:
        return run_suite(suite, out, executor, command, progress=progress)
    finally:
        progress.close()
        executor.shutdown()


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    fields: dict[str, Any] = {
        "task": args.task, "distance": args.distance, "learner": args.learner, "steps": args.steps,
        "seed": args.seed, "learner_options": parse_options(args.opt, "--opt"),
        "task_params": parse_options(args.task_opt, "--task-opt"),
    }
    optional = {"d_model": "d_model", "n_layers": "n_layers", "lr": "lr", "batch_size": "batch_size",
                "threads": "threads", "device": "device", "seq_len": "seq_len", "param_budget": "param_budget",
                "eval_every": "eval_every", "schedule": "schedule", "max_seconds": "max_seconds",
                "length_factors": "length_factors"}
    for attr, key in optional.items():
        value = getattr(args, attr, None)
        if value is not None:
            fields[key] = value
    return RunSpec.from_dict(fields, where="train")


def format_result(r: RunRecord) -> str:
    """The printout of ``run.py train``: accuracy beside the baseline, outcome, size, speed."""
    task_kind = "mse" if r.task == "adding" else "loss"
    solved = (f"solved at step {r.steps_to_solve}" if r.outcome is Outcome.SOLVED
              else f"diverged ({r.stop_reason})" if r.outcome is Outcome.DIVERGED
              else f"not solved in {r.steps_run} steps")
    return "\n".join([
        f"{r.label} on {r.task} at distance {r.distance} (seed {r.seed}, run {r.id})",
        f"  test accuracy  {r.test_accuracy:.4f}   (memoryless baseline {r.baseline_accuracy:.4f})",
        f"  exact match    {r.test_exact_match:.4f}",
        f"  test {task_kind:<9} {r.test_loss:.4g}   (baseline {r.baseline_loss:.4g})",
        f"  outcome        {solved}",
        f"  parameters     {r.params:,} (d_model {r.d_model}, learner {r.learner_params:,})",
        f"  throughput     {r.tokens_per_s:,.0f} tokens/s training ({r.threads} thread(s), {r.device})",
        f"  wall time      {r.wall_seconds:.1f} s",
    ] + [f"  at {e['factor']:>3}x        " + (f"accuracy {e['accuracy']:.4f} (length {e['seq_len']})"
                                            if e["accuracy"] is not None else f"not defined ({e['not_defined']})")
         for e in r.extrapolation or []])


def cmd_train(args: argparse.Namespace) -> int:
    result = train(spec_from_args(args))
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(format_result(result))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report.html import build_report  # matplotlib and seaborn: see cmd_sweep

    folder = Path(args.folder)
    if not (folder / RUNS).exists() and not (folder / "table1.csv").exists():
        raise ReachError(f"{folder} is not a results folder (no runs.jsonl or table1.csv); pass the folder a "
                         f"sweep wrote, e.g. results/long-range-<timestamp>")
    if (folder / RUNS).exists():
        write_tables(folder, read_runs(folder))
    path = build_report(folder)
    print(f"report: {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    return run_compare(args.base, args.new, max_accuracy_drop=args.max_accuracy_drop,
                       max_slowdown=args.max_slowdown, strict=args.strict, alpha=args.alpha)


def cmd_noise_floor(args: argparse.Namespace) -> int:
    """Two existing folders (--base, --other), or the suite run twice with disjoint seeds (--suite), then the noise
    floor between them. Exit 0: it is a measurement, not a gate."""
    sweep_only = [f"--{name.replace('_', '-')}" for name in ("seeds", "other_seeds", "out", "workers")
                  if getattr(args, name) is not None]
    if args.suite is None:
        if not args.base or not args.other:
            raise ReachError("noise-floor needs two results folders (--base DIR --other DIR) or a suite to run twice "
                             "(--suite NAME)")
        if sweep_only:
            raise ReachError(f"{', '.join(sweep_only)} go(es) with --suite (running the suite twice); with --base and "
                             f"--other the two folders are read as they are")
        run_noise_floor(args.base, args.other, args.max_accuracy_drop, args.alpha)
        return 0
    if args.base or args.other:
        raise ReachError("pass either --suite (run it twice) or --base and --other (two existing folders), not both")
    suite = load_suite(args.suite)
    seeds = args.seeds or list(suite.seeds)
    other = args.other_seeds or [max(seeds) + 1 + i for i in range(len(seeds))]
    if len(other) != len(seeds):
        raise ReachError(f"--other-seeds has {len(other)} seed(s) and the first run {len(seeds)}: seeds are paired by "
                         f"position, so give both runs as many")
    if set(other) & set(seeds):
        raise ReachError(f"--other-seeds {','.join(map(str, other))} share seeds with --seeds "
                         f"{','.join(map(str, seeds))}: on one machine the same seed gives the same run, so give the "
                         f"second run disjoint seeds (another machine: run there, then --base DIR --other DIR)")
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise ReachError(f"--workers must be >= 1, got {workers}")
    root = Path(args.out) if args.out else \
        Path("results") / f"noise-floor-{folder_prefix(suite)}-{time.strftime('%Y%m%d-%H%M%S')}"
    command = "python run.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    signal.signal(signal.SIGTERM, terminated)
    outs = []
    for run_seeds in (seeds, other):
        out = root / ("seeds-" + "-".join(str(s) for s in run_seeds))
        sweep_into(suite.override(seeds=run_seeds), out, make_executor("process-pool", workers), command)
        outs.append(out)
    print(f"reach: to measure again without running: python run.py noise-floor --base {outs[0]} --other {outs[1]}")
    run_noise_floor(str(outs[0]), str(outs[1]), args.max_accuracy_drop, args.alpha)
    return 0


def cmd_gpu_check(args: argparse.Namespace) -> int:
    from harness.gpu_check import gpu_check  # the report stage it ends with imports matplotlib: see cmd_sweep

    if args.workers < 1 or args.steps < 1:
        raise ReachError(f"--workers and --steps must be >= 1, got {args.workers} and {args.steps}")
    out = Path(args.out) if args.out else Path("results") / f"gpu-check-{time.strftime('%Y%m%d-%H%M%S')}"
    return gpu_check(out, args.suite, args.workers, args.steps, args.skip_suite)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = make_parser()
        if not argv:
            parser.print_help()
            return 0
        if argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
            argv = ["sweep"] + argv  # python run.py --suite NAME is the main job
        args = parser.parse_args(argv)
        commands = {"list": cmd_list, "train": cmd_train, "sweep": cmd_sweep, "report": cmd_report,
                    "compare": cmd_compare, "noise-floor": cmd_noise_floor, "gpu-check": cmd_gpu_check}
        return commands[args.command](args)
    except ReachError as exc:
        print(f"reach: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `python run.py list | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("reach: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
