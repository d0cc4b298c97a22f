"""The regression gate: `run.py compare BASE NEW` on results folders and on pytest-benchmark JSON files."""

import io
import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from harness.config.suites import Suite
from harness.errors import ReachError
from harness.report.compare import run_compare
from harness.report.compare_runs import cells, compare_results
from harness.run.executors import InProcessExecutor
from harness.run.sweep import run_suite
from harness.store.record import RunRecord
from harness.store.table import runs_frame

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
    assert "1 (task, learner, rung) cell(s) only in NEW" in text
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
    nothing = folder(tmp_path, "nothing", [])
    cases = [  # each message names the side at fault
        (str(tmp_path / "missing"), good, f"BASE '{tmp_path / 'missing'}' does not exist"),
        (good, str(tmp_path / "empty"), f"NEW '{tmp_path / 'empty'}' is a folder without runs.jsonl"),
        (good, str(bench), f"cannot compare a results folder (BASE '{good}') with a benchmark JSON file (NEW "
                           f"'{bench}')"),
        (str(bench), str(other), f"NEW '{other}' is JSON but not pytest-benchmark output"),
        (str(other), str(bench), f"BASE '{other}' is JSON but not pytest-benchmark output"),
        (good, nothing, f"NEW '{nothing}' has no finished runs"),
        (nothing, good, f"BASE '{nothing}' has no finished runs"),
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
    assert text.splitlines()[-1] == "no regression: no benchmark's median slower by more than 25%"
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


# -- compare_results's verdicts on constructed records, at and beyond each threshold --------------------------------

def recs(rows):
    return [RunRecord.from_json(r) for r in rows]


def verdict(base, new, **kw):
    return compare_results(recs(base), recs(new), **kw)


@pytest.mark.parametrize("strict", [True, False])
def test_accuracy_drop_exactly_at_the_threshold_passes_and_just_beyond_fails(strict):
    """The threshold, in both modes; every NEW seed here is below every BASE seed, so the noise-aware rule adds only
    its evidence (the least p two seeds a side allow)."""
    evidence = "" if strict else ", no NEW seed as good as any BASE seed: p = 1/6, the least p 2 seeds a side allow"
    base = [record(acc=0.75, seed=s) for s in (0, 1)]
    at = [record(acc=0.5, seed=s) for s in (0, 1)]  # a drop of exactly 0.25 (binary fractions: no rounding)
    assert verdict(base, at, max_accuracy_drop=0.25, strict=strict).regressions == []
    beyond = [record(acc=0.5, seed=0), record(acc=0.49, seed=1)]  # mean 0.495: a drop of 0.255
    assert verdict(base, beyond, max_accuracy_drop=0.25, strict=strict).regressions == [
        "tcn on lag at distance 4: mean test accuracy fell 0.750 → 0.495 (-0.255, more than 0.25)" + evidence]
    # the mean over seeds decides, not one seed; a rise is never a regression
    mixed = [record(acc=1.0, seed=0), record(acc=0.5, seed=1)]
    assert verdict(base, mixed, max_accuracy_drop=0.25, strict=strict).regressions == []
    assert verdict(at, base, max_accuracy_drop=0.0, strict=strict).regressions == []
    assert verdict(base, at, strict=strict).regressions == [
        "tcn on lag at distance 4: mean test accuracy fell 0.750 → 0.500 (-0.250, more than 0.02)" + evidence]


def test_runs_that_raise_in_new():
    base = [record(seed=s, acc=0.5) for s in (0, 1)]  # unsolved on both sides: reach 0 throughout
    all_raise = [record(seed=s, outcome="error") for s in (0, 1)]
    assert verdict(base, all_raise).regressions == ["tcn on lag at distance 4: all 2 run(s) raised in NEW"]
    one_raises = [record(seed=0, acc=0.5), record(seed=1, outcome="error")]
    assert verdict(base, one_raises).regressions == ["tcn on lag at distance 4: 1 more run(s) raised in NEW"]
    # as many raised in BASE: nothing new; NEW skipped (pruned) rather than raised: no accuracy to compare
    assert verdict(one_raises, one_raises).regressions == []
    skipped = [record(seed=s, outcome="skipped") for s in (0, 1)]
    assert verdict(base, skipped, max_slowdown=1000).regressions == []
    # a cell whose BASE runs all raised cannot regress in accuracy
    assert verdict(all_raise, base).regressions == []


def test_reach_fall_on_the_rungs_both_sides_planned():
    def ladder(accs, distances=(4, 8, 16)):
        return [record(distance=d, seed=s, acc=a) for d, a in zip(distances, accs) for s in (0, 1)]

    base = ladder([1.0, 1.0, 0.5])
    assert verdict(base, ladder([1.0, 0.5, 0.5]), max_accuracy_drop=1, strict=True).regressions == [
        "reach of tcn on lag fell from 8 to 4"]
    assert verdict(base, ladder([1.0, 0.5, 0.5]), max_accuracy_drop=1).regressions == [
        "reach of tcn on lag fell from 8 to 4: at distance 8 2/2 seeds solved in BASE, 0/2 in NEW (no NEW seed as "
        "good as any BASE seed: p = 1/6, the least p 2 seeds a side allow)"]
    assert verdict(base, ladder([1.0, 1.0, 1.0])).regressions == []  # reach grew
    # NEW did not plan 16 and BASE failed it: reach on the common rungs (4, 8) is unchanged
    assert verdict(base, ladder([1.0, 1.0], distances=(4, 8))).regressions == []
    # NEW planned a larger rung BASE never had, and failed it: not a fall either
    grown = ladder([1.0, 1.0, 0.5]) + [record(distance=32, seed=s, acc=0.1) for s in (0, 1)]
    comparison = verdict(base, grown)
    assert comparison.regressions == []
    assert comparison.notes == ["1 (task, learner, rung) cell(s) only in NEW are not compared"]


def test_capacity_fall_on_a_load_ladder_says_capacity():
    from harness.config.suites import Suite

    suite = Suite.from_dict({"name": "loads", "seeds": [0], "defaults": {"steps": 1}, "learners": [{"name": "gru"}],
                             "tasks": [{"name": "hold", "distances": [8], "loads": [1, 2]}]}, where="test")
    plan = suite.plan()

    def side(accs):
        return [RunRecord.from_json(record(task="hold", learner="gru", distance=8, acc=a, id=c.spec.id,
                                           spec=c.spec.to_dict(), label="gru"))
                for c, a in zip(plan, accs)]

    result = compare_results(side([1.0, 1.0]), side([1.0, 0.5]), max_accuracy_drop=1, plan_base=plan, plan_new=plan)
    assert result.regressions == ["capacity of gru on hold[distance=8] fell from 2 to 1: at load 2 1/1 seeds solved in "
                                  "BASE, 0/1 in NEW (no NEW seed as good as any BASE seed: p = 1/2, the least p 1 seed "
                                  "a side allow)"]
    result = compare_results(side([1.0, 1.0]), side([1.0, 0.5]), max_accuracy_drop=1, plan_base=plan, plan_new=plan,
                             strict=True)
    assert result.regressions == ["capacity of gru on hold[distance=8] fell from 2 to 1"]


def test_throughput_slowdown_is_the_median_over_cells_and_exactly_at_the_threshold_passes():
    def side(tps):
        return [record(distance=d, tps=t) for d, t in zip((4, 8, 16), tps)]

    base = side([10000.0, 10000.0, 10000.0])
    # ratios 1.0, 1.25, 4.0: the median 1.25 is a slowdown of exactly 25%, the threshold
    assert verdict(base, side([10000.0, 8000.0, 2500.0])).regressions == []
    assert verdict(base, side([10000.0, 7999.0, 2500.0])).regressions == [
        "tcn: training throughput 25% slower (median over 3 cell(s)), more than 25%"]
    assert verdict(base, side([10000.0, 7999.0, 2500.0]), max_slowdown=25.1).regressions == []
    # cells without a usable rate are left out of the median
    holes = side([10000.0, 5000.0, 0.0])
    holes[0]["tokens_per_s"] = None
    assert verdict(base, holes).regressions == [
        "tcn: training throughput 100% slower (median over 1 cell(s)), more than 25%"]
    # no usable rate anywhere: no throughput table, no verdict
    none = side([0.0, 0.0, 0.0])
    result = verdict(base, none)
    assert result.regressions == [] and not any("throughput" in h for h, _ in result.tables)


def test_a_drift_of_every_learner_is_noted_not_blamed_on_one():
    def side(tps_tcn, tps_lstm):
        return [record(learner="tcn", tps=tps_tcn), record(learner="lstm", tps=tps_lstm)]

    base = side(10000.0, 10000.0)
    result = verdict(base, side(8000.0, 8000.0), max_slowdown=100)
    assert result.regressions == [] and any("every learner moved the same way" in n for n in result.notes)
    faster = verdict(base, side(12000.0, 12000.0), max_slowdown=100)
    assert any("every learner moved the same way" in n for n in faster.notes)
    # one learner moved, the other did not: no drift note
    result = verdict(base, side(8000.0, 10000.0), max_slowdown=100)
    assert not any("every learner" in n for n in result.notes)
    # within 10% both ways: no note either
    result = verdict(base, side(9500.0, 9500.0), max_slowdown=100)
    assert not any("every learner" in n for n in result.notes)


def test_cells_aggregates_over_seeds():
    frame = runs_frame(recs([record(seed=0, acc=1.0, steps=100, tps=1000.0),
                             record(seed=2, acc=0.995, steps=300, tps=3000.0),
                             record(seed=1, acc=0.5, tps=2000.0),
                             record(seed=3, outcome="error"), record(seed=4, outcome="skipped")]))
    row = cells(frame).iloc[0]
    assert (row.task, row.label, row.rung, row.axis) == ("lag", "tcn", 4, "distance")
    assert row.trained == 3 and row.seeds == [0, 1, 2, 3, 4] and row.solved == 2
    assert row.acc_mean == pytest.approx(2.495 / 3) and (row.acc_min, row.acc_max) == (0.5, 1.0)
    assert row.steps == 200.0 and row.tokens_per_s == 2000.0 and (row.error, row.skipped) == (1, 1)
    empty = cells(runs_frame(recs([record(seed=0, outcome="error")]))).iloc[0]
    assert empty.trained == 0 and math.isnan(empty.acc_mean) and math.isnan(empty.steps)
    assert math.isnan(empty.tokens_per_s) and math.isnan(empty.acc_min) and math.isnan(empty.acc_max)


def test_notes_on_cells_seeds_suites_machines_and_settings():
    base = [record(seed=s) for s in (0, 1)] + [record(distance=8)]
    new = [record(seed=s) for s in (0, 2)] + [record(distance=16), record(distance=32)]
    result = compare_results(recs(base), recs(new), env_base={"suite": "a", "cpu": "x"},
                             env_new={"suite": "a", "cpu": "x"})
    assert result.notes == ["1 (task, learner, rung) cell(s) only in BASE are not compared",
                            "2 (task, learner, rung) cell(s) only in NEW are not compared",
                            "the seeds differ between BASE and NEW in some cells: means are over different seeds"]
    same = compare_results(recs(base[:2]), recs(base[:2]), env_base={"suite": "a"}, env_new={"cpu": "y"})
    assert same.notes == []
    # execution details (threads, device, seed, label) are not settings; a setting changed in four configurations
    # names three of them
    learners = ("tcn", "lstm", "gru", "rnn")
    changed = [record(learner=lrn, lr=0.1, seed=5) for lrn in learners]
    for r in changed:
        r["spec"]["threads"], r["spec"]["device"] = 4, "cuda"
    result = compare_results(recs([record(learner=lrn) for lrn in learners]), recs(changed))
    assert result.notes == ["the seeds differ between BASE and NEW in some cells: means are over different seeds",
                            "run setting 'lr' differs between BASE and NEW (gru on lag, lstm on lag, rnn on lag and 1 "
                            "more)"]
    two = compare_results(recs([record(learner=lrn) for lrn in learners[:3]]), recs(changed[:3]))
    assert two.notes[-1] == "run setting 'lr' differs between BASE and NEW (gru on lag, lstm on lag, tcn on lag)"


def test_long_tables_show_only_changed_cells():
    base = [record(distance=d) for d in range(1, 46)]
    new = [dict(r) for r in base]
    new[3] = record(distance=4, acc=0.5)
    new[9] = record(distance=10, steps=150)  # the same accuracy, solved later
    result = compare_results(recs(base), recs(new), max_slowdown=1000, max_accuracy_drop=1)
    heading, table = result.tables[1]
    assert heading.startswith("test accuracy per distance") and table.row_count == 2
    assert [str(c) for c in table.columns[2].cells] == ["4", "10"]
    assert table.caption == "43 unchanged cell(s) not shown"
    short = compare_results(recs(base[:40]), recs(base[:40]))
    assert short.tables[1][1].row_count == 40 and short.tables[1][1].caption is None


def test_run_compare_prints_the_verdict_and_returns_the_exit_code(tmp_path):
    base = folder(tmp_path, "a", grid())
    same = folder(tmp_path, "b", grid())
    code, text = compare(base, same, max_slowdown=0)  # 0 is a valid threshold
    assert code == 0
    assert text.splitlines()[-1] == "no regression beyond noise: accuracy within 0.02 or within its seeds' spread, " \
                                    "reach kept or within noise, no run raising, no slowdown beyond 0%"
    lines = text.splitlines()
    assert lines[0] == f"compare: BASE {base}  →  NEW {tmp_path / 'b'}"
    # the machines and the rule come first
    assert lines[1].startswith("same machine (CPU 'cpu A', torch —, — thread(s) per run)")
    assert lines[2].startswith("rule: noise-aware: a cell is worse only beyond its seeds' own spread")
    code, text = compare(base, same, max_slowdown=0, strict=True)
    assert code == 0
    assert text.splitlines()[-1] == "no regression: accuracy within 0.02, reach kept, no run raising, no slowdown " \
                                    "beyond 0%"
    assert text.splitlines()[2].startswith("rule: strict (--strict): a fall of mean test accuracy by more than 0.02")
    worse = folder(tmp_path, "c", grid(tcn8={"acc": 0.95}, lstm4={"tps": 1000.0}))
    code, text = compare(base, worse)
    assert code == 1
    lines = text.splitlines()
    at = lines.index("REGRESSION: NEW is worse than BASE in 3 way(s):")
    two = "no NEW seed as good as any BASE seed: p = 1/6, the least p 2 seeds a side allow"
    assert lines[at + 1:] == [f"  - reach of tcn on lag fell from 8 to 4: at distance 8 2/2 seeds solved in BASE, 0/2 "
                              f"in NEW ({two})",
                              f"  - tcn on lag at distance 8: mean test accuracy fell 1.000 → 0.950 (-0.050, more than "
                              f"0.02), {two}",
                              "  - lstm: training throughput 450% slower (median over 2 cell(s)), more than 25%"]
    code, text = compare(base, worse, strict=True)
    assert code == 1
    lines = text.splitlines()
    at = lines.index("REGRESSION: NEW is worse than BASE in 3 way(s):")
    assert lines[at + 1:] == ["  - reach of tcn on lag fell from 8 to 4",
                              "  - tcn on lag at distance 8: mean test accuracy fell 1.000 → 0.950 (-0.050, more than "
                              "0.02)",
                              "  - lstm: training throughput 450% slower (median over 2 cell(s)), more than 25%"]


@pytest.mark.parametrize(("kw", "message"), [
    ({"max_slowdown": True}, "--max-slowdown must be a finite number >= 0, got True"),
    ({"max_slowdown": "5"}, "--max-slowdown must be a finite number >= 0, got '5'"),
    ({"max_slowdown": float("inf")}, "--max-slowdown must be a finite number >= 0, got inf"),
    ({"max_accuracy_drop": -0.01}, "--max-accuracy-drop must be a finite number >= 0, got -0.01"),
])
def test_thresholds_must_be_finite_and_not_negative(tmp_path, kw, message):
    good = folder(tmp_path, "good", grid())
    with pytest.raises(ReachError, match=f"^{re.escape(message)}$"):
        run_compare(good, good, **kw)
    assert run_compare(good, good, max_accuracy_drop=0, console=Console(file=io.StringIO())) == 0


def test_the_printed_tables_cell_by_cell():
    """Every heading, column (header and alignment) and cell of the three tables --strict prints (today's exact
    comparison), on a comparison with one regression of each kind: tcn lost distance 8 (one seed fell, one raised)
    and got slower, lstm did not."""
    def side(new):
        out = []
        for s in (0, 1):
            out.append(record(learner="lstm", distance=4, seed=s, acc=0.5 + 0.1 * s, tps=8000.0 if new else 10000.0))
            out.append(record(learner="tcn", distance=4, seed=s, steps=100 + 100 * s, tps=5000.0 if new else 10000.0))
        if new:
            return out + [record(learner="tcn", distance=8, seed=0, acc=0.5, tps=5000.0),
                          record(learner="tcn", distance=8, seed=1, outcome="error")]
        return out + [record(learner="tcn", distance=8, seed=s, steps=100 + 100 * s) for s in (0, 1)]

    result = compare_results(recs(side(False)), recs(side(True)), strict=True)
    bad, ok = "[bold red]REGRESSED[/]", "ok"
    expected = [
        ("reach: largest distance (capacity: largest load) up to which every rung is solved in a majority of seeds "
         "(on the rungs both sides planned)",
         [("task", "left"), ("learner", "left"), ("BASE", "right"), ("NEW", "right"),
          ("solved per rung, BASE → NEW", "left"), ("", "left")],
         [("lag", "lstm", "—", "—", "4:0/2", ok),
          ("lag", "tcn", "8", "4", "4:2/2 8:2/2 → 4:2/2 8:0/2", bad)]),
        ("test accuracy per distance (or load): mean [min–max] over seeds (fails if it drops by more than 0.02); "
         "steps to solve: mean over solved seeds",
         [("task", "left"), ("learner", "left"), ("rung", "right"), ("BASE", "right"), ("NEW", "right"),
          ("Δ", "right"), ("steps BASE → NEW", "right"), ("", "left")],
         [("lag", "lstm", "4", "0.550 [0.500–0.600] (n=2)", "0.550 [0.500–0.600] (n=2)", "+0.000", "—", ok),
          ("lag", "tcn", "4", "1.000 (n=2)", "1.000 (n=2)", "+0.000", "150 (2/2)", ok),
          ("lag", "tcn", "8", "1.000 (n=2)", "0.500", "-0.500", "150 (2/2) → —", bad)]),
        ("training throughput per learner: tokens/s, median over common cells (fails if slower by more than 25%)",
         [("learner", "left"), ("cells", "right"), ("BASE", "right"), ("NEW", "right"), ("slowdown", "right"),
          ("vs the other learners", "right"), ("", "left")],
         [("lstm", "1", "10,000", "8,000", "+25.0%", "-37.5%", ok),  # 1.25 against tcn's 2.0
          ("tcn", "2", "10,000", "5,000", "+100.0%", "+60.0%", bad)]),
    ]
    got = [(heading, [(c.header, c.justify) for c in table.columns],
            list(zip(*[[str(cell) for cell in c.cells] for c in table.columns])))
           for heading, table in result.tables]
    assert got == expected
    assert result.regressions == [
        "reach of tcn on lag fell from 8 to 4",
        "tcn on lag at distance 8: mean test accuracy fell 1.000 → 0.500 (-0.500, more than 0.02)",
        "tcn on lag at distance 8: 1 more run(s) raised in NEW",
        "tcn: training throughput 100% slower (median over 2 cell(s)), more than 25%"]
    assert result.notes == [
        "the throughput of every learner moved the same way (time per token +25% to +100%, median +62%): likely the "
        "machine (load, CPU, threads), not the code; run BASE and NEW in the same job, or gate speed on the benchmark "
        "suite, whose calibrated rounds are steadier; 'vs the other learners' shows each learner's change net of it"]


def test_throughput_edges():
    def side(rates, learner="tcn"):
        return [record(learner=learner, distance=d, tps=t) for d, t in zip((4, 8, 16), rates)]

    # a cell with no rate on one side (0) is left out; a rate below 1 token/s still counts
    for base, new in (([0.0, 0.5, 10000.0], [10000.0, 0.5, 5000.0]), ([10000.0, 0.5, 10000.0], [0.0, 0.5, 5000.0])):
        assert verdict(side(base), side(new)).regressions == [
            "tcn: training throughput 50% slower (median over 2 cell(s)), more than 25%"]
    # a single learner has no others to be compared with
    (_, table), = [t for t in verdict(side([10.0] * 3), side([10.0] * 3)).tables if "throughput" in t[0]]
    assert [str(c) for c in table.columns[5].cells] == ["—"]
    # every learner exactly 10% slower (time per token x1.1) or faster (x1/1.1): not yet called the machine's drift
    def two(rate):
        return side([rate] * 3) + side([rate] * 3, learner="lstm")

    for base_rate, new_rate in ((11000.0, 10000.0), (10000.0, 11000.0)):
        notes = verdict(two(base_rate), two(new_rate), max_slowdown=100).notes
        assert not any("every learner" in n for n in notes), notes


def test_throughput_rows_are_sorted_by_learner_across_tasks():
    base = [record(task="copy", learner="tcn"), record(task="lag", learner="lstm"), record(task="lag", learner="tcn")]
    (_, table), = [t for t in verdict(base, base).tables if "throughput" in t[0]]
    assert [str(c) for c in table.columns[0].cells] == ["lstm", "tcn"]
    assert [str(c) for c in table.columns[1].cells] == ["1", "2"]


def test_a_setting_present_on_one_side_only_is_a_change():
    base = [record()]
    new = [record()]
    new[0]["spec"]["weight_decay"] = 0.1
    assert verdict(base, new).notes == ["run setting 'weight_decay' differs between BASE and NEW (tcn on lag)"]
    assert verdict(new, base).notes == ["run setting 'weight_decay' differs between BASE and NEW (tcn on lag)"]


def test_long_lines_are_printed_whole_on_a_narrow_console(tmp_path):
    """Headings, notes and regressions are one line each, however narrow the terminal (CI logs are read by grep)."""
    base = folder(tmp_path, "a", grid())
    new = folder(tmp_path, "b", grid(tcn8={"acc": 0.95}), suite="other")
    console = Console(record=True, width=40, force_terminal=False)
    assert run_compare(base, new, console=console) == 1
    lines = console.export_text().splitlines()
    for whole in (f"compare: BASE {base}  →  NEW {new}",
                  "test accuracy per distance (or load): mean [min–max] over seeds (fails if it drops by more than "
                  "0.02 and beyond its seeds' spread); steps to solve: mean over solved seeds",
                  "note: different suites: BASE 'smoke', NEW 'other'; only their common cells are compared",
                  "  - tcn on lag at distance 8: mean test accuracy fell 1.000 → 0.950 (-0.050, more than 0.02), no "
                  "NEW seed as good as any BASE seed: p = 1/6, the least p 2 seeds a side allow"):
        assert whole in lines, whole


def test_default_thresholds(tmp_path):
    base = grid()
    slower = grid(**{f"tcn{d}": {"tps": 7960.0} for d in (4, 8)})  # 10000 / 7960: 25.6% slower
    assert verdict(base, slower).regressions == [
        "tcn: training throughput 26% slower (median over 2 cell(s)), more than 25%"]
    code, text = compare(folder(tmp_path, "a", base), folder(tmp_path, "b", slower))
    assert code == 1 and "more than 25%" in text
    dropped = grid(tcn4={"acc": 0.979})  # a drop of 0.021 at distance 4 (and below the threshold: reach falls)
    assert "tcn on lag at distance 4: mean test accuracy fell 1.000 → 0.979 (-0.021, more than 0.02)" in \
        verdict(base, dropped, strict=True).regressions
    assert "tcn on lag at distance 4: mean test accuracy fell 1.000 → 0.979 (-0.021, more than 0.02), no NEW seed as " \
        "good as any BASE seed: p = 1/6, the least p 2 seeds a side allow" in verdict(base, dropped).regressions
    code, text = compare(folder(tmp_path, "c", base), folder(tmp_path, "d", dropped))
    assert code == 1 and "(-0.021, more than 0.02)" in text


def test_run_compare_groups_by_the_configurations_of_suite_toml(tmp_path):
    suite = Suite.from_dict({"name": "lrs", "seeds": [0], "defaults": {"steps": 1},
                             "learners": [{"name": "lstm", "lr": 0.01}, {"name": "lstm", "lr": 0.001}],
                             "tasks": [{"name": "lag", "distances": [4]}]}, where="test")

    def side(name, accs):
        path = tmp_path / name
        path.mkdir()
        rows = [dict(record(learner="lstm", acc=a), id=c.spec.id, spec=c.spec.to_dict(), label=c.learner)
                for c, a in zip(suite.plan(), accs)]
        (path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (path / "suite.toml").write_text(suite.to_toml())
        return str(path)

    code, text = compare(side("a", [1.0, 0.5]), side("b", [1.0, 0.4]), max_accuracy_drop=0.05)
    assert code == 1
    assert "lstm[lr=0.001] on lag at distance 4: mean test accuracy fell 0.500 → 0.400" in text
    assert "lstm[lr=0.01]" in text
