"""The regression gate: `run.py compare BASE NEW` on results folders and on pytest-benchmark JSON files."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from harness.config.suites import Suite
from harness.errors import ReachError
from harness.report.compare import run_compare
from harness.run.executors import InProcessExecutor
from harness.run.sweep import run_suite

ROOT = Path(__file__).resolve().parent.parent


def record(task="lag", learner="tcn", distance=4, seed=0, outcome=None, acc=1.0, steps=100, tps=10000.0,
           lr=3e-3, **extra):
    outcome = outcome or ("solved" if acc >= 0.99 else "unsolved")
    spec = {"task": task, "distance": distance, "learner": learner, "seed": seed, "lr": lr, "steps": 200,
            "n_layers": 2, "solve_threshold": 0.99, "learner_options": {}, "task_params": {}}
    rec = {"id": f"{task}-{learner}-{distance}-{seed}", "spec": spec, "label": learner, "outcome": outcome,
           "test_accuracy": acc, "steps_run": steps, "steps_to_solve": steps if outcome == "solved" else None,
           "tokens_per_s": tps, "seq_len": distance + 32, "error": None}
    if outcome == "error":
        rec = {"id": rec["id"], "spec": spec, "label": learner, "outcome": "error", "error": "RuntimeError: boom"}
    rec.update(extra)
    return rec


def grid(**changes):
    """Two learners x distances 4, 8 x seeds 0, 1; ``changes`` maps (learner, distance) to record overrides."""
    out = []
    for learner in ("tcn", "lstm"):
        for distance in (4, 8):
            for seed in (0, 1):
                kw = {"acc": 1.0 if learner == "tcn" else (0.995 if distance == 4 else 0.5)}
                kw.update(changes.get(f"{learner}{distance}", {}))
                if callable(kw.get("acc")):
                    kw["acc"] = kw["acc"](seed)
                out.append(record(learner=learner, distance=distance, seed=seed, **kw))
    return out


def folder(tmp_path, name, records, suite="smoke", cpu="cpu A"):
    path = tmp_path / name
    path.mkdir()
    (path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (path / "env.json").write_text(json.dumps({"suite": suite, "cpu": cpu}))
    return str(path)


def compare(base, new, **kw):
    console = Console(record=True, width=200, force_terminal=False)
    code = run_compare(base, new, console=console, **kw)
    return code, console.export_text()


# -- results folders -----------------------------------------------------------------------------------------------

def test_identical_results_pass(tmp_path):
    code, text = compare(folder(tmp_path, "a", grid()), folder(tmp_path, "b", grid()))
    assert code == 0, text
    assert "no regression" in text and "REGRESS" not in text
    assert "reach" in text and "test accuracy per distance" in text and "throughput" in text


def test_accuracy_drop_beyond_threshold_fails_and_says_where(tmp_path):
    new = grid(tcn8={"acc": 0.95})
    code, text = compare(folder(tmp_path, "a", grid()), folder(tmp_path, "b", new))
    assert code == 1
    assert "tcn on lag at distance 8: mean test accuracy fell 1.000 → 0.950 (-0.050, more than 0.02)" in text
    assert "reach of tcn on lag fell from 8 to 4" in text


def test_small_accuracy_drop_is_tolerated_and_threshold_is_configurable(tmp_path):
    base = folder(tmp_path, "a", grid())
    new = folder(tmp_path, "b", grid(lstm8={"acc": 0.49}))  # unsolved both times: reach unchanged
    assert compare(base, new)[0] == 0
    code, text = compare(base, new, max_accuracy_drop=0.005)
    assert code == 1 and "lstm on lag at distance 8" in text


def test_seed_spread_is_shown(tmp_path):
    new = grid(lstm8={"acc": lambda seed: 0.4 + 0.2 * seed})
    code, text = compare(folder(tmp_path, "a", grid()), folder(tmp_path, "b", new))
    assert code == 0
    assert "0.500 [0.400–0.600] (n=2)" in text


def test_reach_loss_alone_fails(tmp_path):
    # 0.995 -> 0.985 is within the accuracy threshold, but both seeds now miss 0.99: reach 4 -> 0
    new = grid(lstm4={"acc": 0.985})
    code, text = compare(folder(tmp_path, "a", grid()), folder(tmp_path, "b", new))
    assert code == 1
    assert "reach of lstm on lag fell from 4 to 0" in text
    assert "mean test accuracy fell" not in text


def test_throughput_slowdown(tmp_path):
    base = folder(tmp_path, "a", grid())
    slow = folder(tmp_path, "b", grid(**{f"tcn{d}": {"tps": 7000.0} for d in (4, 8)}))  # 10000/7000 = 43% slower
    code, text = compare(base, slow)
    assert code == 1
    assert "tcn: training throughput 43% slower (median over 2 cell(s)), more than 25%" in text
    assert compare(base, slow, max_slowdown=50)[0] == 0
    mild = folder(tmp_path, "c", grid(**{f"tcn{d}": {"tps": 9000.0} for d in (4, 8)}))  # 11% slower
    assert compare(base, mild)[0] == 0
    assert compare(base, mild, max_slowdown=10)[0] == 1


def test_slowdown_of_every_learner_is_flagged_and_blamed_on_the_machine(tmp_path):
    base = folder(tmp_path, "a", grid())
    slow = {f"{lrn}{d}": {"tps": 6000.0 if lrn == "tcn" else 7000.0} for lrn in ("tcn", "lstm") for d in (4, 8)}
    code, text = compare(base, folder(tmp_path, "b", grid(**slow)))
    assert code == 1
    assert "tcn: training throughput 67% slower" in text and "lstm: training throughput 43% slower" in text
    assert "every learner moved the same way (time per token +43% to +67%" in text
    assert "+16.7%" in text  # tcn net of the others: (10000/6000) / (10000/7000) - 1


def test_runs_that_raise_in_new_fail(tmp_path):
    new = grid(tcn4={"outcome": "error"})
    code, text = compare(folder(tmp_path, "a", grid()), folder(tmp_path, "b", new))
    assert code == 1
    assert "tcn on lag at distance 4: all 2 run(s) raised in NEW" in text


def test_notes_on_different_machines_settings_and_cells(tmp_path):
    base = folder(tmp_path, "a", grid())
    new = grid(tcn4={"lr": 1e-4}) + [record(learner="gru", distance=4)]
    code, text = compare(base, folder(tmp_path, "b", new, suite="other", cpu="cpu B"))
    assert code == 0
    assert "run setting 'lr' differs between BASE and NEW (tcn on lag)" in text
    assert "1 (task, learner, distance) cell(s) only in NEW" in text
    assert "different machines" in text and "different suites" in text


def test_bracketed_labels_are_printed_verbatim(tmp_path):
    recs = [dict(r, label="transformer[positions=rotary]") for r in grid()]
    code, text = compare(folder(tmp_path, "a", recs), folder(tmp_path, "b", recs))
    assert code == 0 and "transformer[positions=rotary]" in text


# -- bad input -----------------------------------------------------------------------------------------------------

def test_bad_input(tmp_path):
    good = folder(tmp_path, "good", grid())
    (tmp_path / "empty").mkdir()
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"benchmarks": [{"fullname": "t::a", "stats": {"median": 1.0}}]}))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    cases = [
        (str(tmp_path / "missing"), good, "BASE '", "does not exist"),
        (good, str(tmp_path / "empty"), "without runs.jsonl"),
        (good, str(bench), "cannot compare a results folder"),
        (str(bench), str(other), "not pytest-benchmark output"),
        (good, folder(tmp_path, "nothing", []), "no finished runs"),
    ]
    for base, new, *needles in cases:
        with pytest.raises(ReachError) as info:
            run_compare(base, new)
        for needle in needles:
            assert needle in str(info.value), str(info.value)
    with pytest.raises(ReachError, match="--max-slowdown"):
        run_compare(good, good, max_slowdown=-1)
    with pytest.raises(ReachError, match="--max-accuracy-drop"):
        run_compare(good, good, max_accuracy_drop=float("nan"))


def test_suites_without_common_cells_cannot_be_compared(tmp_path):
    base = folder(tmp_path, "a", grid())
    new = folder(tmp_path, "b", [record(task="copy", learner="gru")])
    with pytest.raises(ReachError) as info:
        run_compare(base, new)
    message = str(info.value)
    assert "no (task, learner, distance) in common" in message
    assert "BASE has tasks {lag}, learners {lstm, tcn}" in message and "NEW has tasks {copy}, learners {gru}" in message


# -- benchmark JSON ------------------------------------------------------------------------------------------------

def bench_file(tmp_path, name, medians, cpu="cpu A"):
    doc = {"machine_info": {"cpu": {"brand_raw": cpu}}, "benchmarks": [
        {"name": n.split("::")[-1], "fullname": n, "group": "train-step:tcn", "stats": {"median": m},
         "extra_info": {"tokens_per_s": 8192 / m}} for n, m in medians.items()]}
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_benchmark_json(tmp_path):
    base = bench_file(tmp_path, "a.json", {"t.py::step[64]": 0.010, "t.py::step[256]": 0.020, "t.py::gone": 1.0})
    same = bench_file(tmp_path, "b.json", {"t.py::step[64]": 0.011, "t.py::step[256]": 0.021})
    code, text = compare(base, same)
    assert code == 0 and "1 benchmark(s) only in BASE" in text and "819,200 → 744,727" in text
    slow = bench_file(tmp_path, "c.json", {"t.py::step[64]": 0.010, "t.py::step[256]": 0.030}, cpu="cpu B")
    code, text = compare(base, slow)
    assert code == 1
    assert "t.py::step[256]: median 20 ms → 30 ms (+50%, slower by more than 25%)" in text
    assert "different machines" in text
    assert compare(base, slow, max_slowdown=60)[0] == 0
    unrelated = bench_file(tmp_path, "d.json", {"x.py::other": 0.01})
    with pytest.raises(ReachError, match="share no benchmark name"):
        run_compare(base, unrelated)


@pytest.mark.slow
def test_real_pytest_benchmark_json_and_cli_exit_codes(tmp_path):
    """pytest-benchmark's own JSON, a deliberately slowed function, and the CLI's exit codes 0, 1 and 2."""
    (tmp_path / "test_sleep.py").write_text(textwrap.dedent("""
        import os, time
        def test_sleep(benchmark):
            benchmark(time.sleep, float(os.environ["SLEEP"]))
    """))

    def bench(out, sleep):
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_sleep.py", "--benchmark-only",
               "--benchmark-max-time=0.1", f"--benchmark-json={out}"]
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "SLEEP": sleep},
                              timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return str(out)

    base, again, slow = bench(tmp_path / "a.json", "0.004"), bench(tmp_path / "b.json", "0.004"), \
        bench(tmp_path / "c.json", "0.008")

    def cli(*args):
        return subprocess.run([sys.executable, str(ROOT / "run.py"), "compare", *args], capture_output=True,
                              text=True, cwd=ROOT, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})

    ok = cli(base, again)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    worse = cli(base, slow)
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "test_sleep" in worse.stdout and "REGRESSION" in worse.stdout
    bad = cli(base, str(tmp_path))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


# -- end to end: a real sweep, repeated, and a weakened learner ---------------------------------------------------

def sweep(out, lr):
    suite = Suite.from_dict({
        "name": "cmp", "seeds": [0], "prune": False,
        "defaults": {"d_model": 16, "n_layers": 1, "steps": 40, "eval_every": 20, "batch_size": 16,
                     "val_batches": 1, "test_batches": 2, "warmup_steps": 5},
        "learners": [{"name": "tcn", "lr": lr}], "tasks": [{"name": "lag", "distances": [4]}]}, where="test")
    run_suite(suite, out, InProcessExecutor(), "test")
    return str(out)


def test_rerun_passes_and_weakened_learner_fails(tmp_path):
    base = sweep(tmp_path / "base", 1e-2)
    rerun = sweep(tmp_path / "rerun", 1e-2)
    weak = sweep(tmp_path / "weak", 1e-4)  # the same learner with a crippled learning rate
    # throughput is not what this test is about: two short runs on a busy machine may differ by more than 25%
    code, text = compare(base, rerun, max_slowdown=1000)
    assert code == 0, text
    code, text = compare(base, weak, max_slowdown=1000)
    assert code == 1, text
    assert "tcn on lag at distance 4: mean test accuracy fell" in text
    assert "run setting 'lr' differs" in text
