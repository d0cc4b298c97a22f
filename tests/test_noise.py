"""Telling a change from noise: the exact tests, the noise-aware gate of `run.py compare`, and `run.py noise-floor`."""

import io
import itertools
import json
import math
import random
import re
from pathlib import Path

import pytest
from rich.console import Console

from harness.cli import main
from harness.errors import ReachError
from harness.report.compare import run_compare
from harness.report.compare_runs import base_runs, compare_results
from harness.report.noise import (
    MAX_DEALS,
    accuracy_test,
    fisher_worse,
    least_p,
    permutation_worse,
    solved_test,
    wilson,
)
from harness.report.noise_floor import noise_floor, read_side, run_noise_floor
from harness.store.record import RunRecord

ROOT = Path(__file__).resolve().parent.parent
AMD = {"cpu": "AMD EPYC", "cpu_capability": "AVX2", "versions": {"torch": "2.13.0+cpu"}, "torch_threads_per_run": 1}
INTEL = {"cpu": "Intel Xeon", "cpu_capability": "AVX512", "versions": {"torch": "2.13.0+cpu"},
         "torch_threads_per_run": 1}
TWO = "no NEW seed as good as any BASE seed: p = 1/6, the least p 2 seeds a side allow"


def run(learner="tcn", distance=4, seed=0, acc=1.0, task="hold", outcome=None, tps=10000.0, **spec):
    """One runs.jsonl object: solved when acc >= 0.99, unless ``outcome`` says otherwise ("error", "skipped")."""
    outcome = outcome or ("solved" if acc >= 0.99 else "unsolved")
    spec = {"task": task, "distance": distance, "learner": learner, "seed": seed, "lr": 1e-2, "steps": 150,
            "solve_threshold": 0.99, "learner_options": {}, "task_params": {}, **spec}
    rec = {"id": f"{task}-{learner}-{distance}-{seed}" + (f"-{spec['continues']}" if spec.get("continues") else ""),
           "spec": spec, "label": learner, "outcome": outcome}
    if outcome in ("solved", "unsolved"):
        rec.update(test_accuracy=acc, steps_run=150, steps_to_solve=100 if outcome == "solved" else None,
                   tokens_per_s=tps)
    elif outcome == "error":
        rec["error"] = "RuntimeError: boom"
    return rec


def ladder(learner, accs, distances=(4, 8, 16, 32), **kw):
    """A learner's distance ladder: ``accs`` maps a distance to the accuracy per seed ("skip" for a pruned rung)."""
    out = []
    for d in distances:
        for seed, acc in enumerate(accs.get(d, [1.0, 1.0])):
            out.append(run(learner, d, seed, outcome="skipped", **kw) if acc == "skip" else run(learner, d, seed, acc,
                                                                                                 **kw))
    return out


def write(tmp_path, name, records, env=None, seeds=None, suite="long-range"):
    path = tmp_path / name
    path.mkdir()
    (path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (path / "env.json").write_text(json.dumps({"suite": suite, **(env or AMD)}))
    if seeds is not None:  # a suite.toml that only names the seeds (no plan can be resolved from it)
        (path / "suite.toml").write_text(f"name = '{suite}'\nseeds = {list(seeds)}\n")
    return str(path)


def gate(base, new, **kw):
    console = Console(record=True, width=250, force_terminal=False, file=io.StringIO())
    code = run_compare(base, new, console=console, **kw)
    return code, console.export_text()


def recs(rows):
    return [RunRecord.from_json(r) for r in rows]


# -- the exact tests ------------------------------------------------------------------------------------------------

def test_fishers_exact_test_by_hand():
    assert fisher_worse(2, 2, 0, 2) == pytest.approx(1 / 6)  # both solved ones on BASE's side: 1 deal of 6
    assert fisher_worse(2, 2, 1, 2) == pytest.approx(3 / 6)  # BASE holds 2 of the 3 solved: 3 deals of 6
    assert fisher_worse(3, 3, 0, 3) == pytest.approx(1 / 20)
    assert fisher_worse(5, 5, 1, 5) == pytest.approx(6 / 252)
    assert fisher_worse(1, 2, 0, 2) == pytest.approx(3 / 6)
    assert fisher_worse(0, 2, 2, 2) == 1.0  # NEW better: nothing against it
    assert fisher_worse(2, 2, 0, 0) == 1.0 and fisher_worse(0, 0, 0, 2) == 1.0  # a side with no runs


def test_the_permutation_test_on_solved_or_not_is_fishers_test():
    for nb, nn in itertools.product(range(1, 5), range(1, 5)):
        for sb, sn in itertools.product(range(nb + 1), range(nn + 1)):
            binary = permutation_worse([1.0] * sb + [0.0] * (nb - sb), [1.0] * sn + [0.0] * (nn - sn))
            assert binary == pytest.approx(fisher_worse(sb, nb, sn, nn)), (sb, nb, sn, nn)


def test_the_permutation_test_on_accuracies():
    assert permutation_worse([0.9, 1.0], [0.5, 0.6]) == pytest.approx(1 / 6)  # apart: the one most extreme deal
    assert permutation_worse([0.5, 0.6], [0.9, 1.0]) == 1.0
    assert permutation_worse([1.0, 1.0], [1.0, 0.5]) == pytest.approx(3 / 6)  # ties go against the change
    assert permutation_worse([0.49, 1.0], [0.5, 0.878]) == pytest.approx(3 / 6)  # the rnn cell
    assert permutation_worse([0.7], [0.6]) == pytest.approx(1 / 2)
    assert permutation_worse([], [0.5]) == 1.0
    # sums equal up to rounding count as equal: 0.1 + 0.2 != 0.3 in floating point
    assert permutation_worse([0.1, 0.2], [0.3, 0.0]) == permutation_worse([0.15, 0.15], [0.3, 0.0])


def test_beyond_max_deals_the_permutation_test_samples_with_a_fixed_seed():
    base, new = [1.0 - 0.001 * i for i in range(12)], [0.5 - 0.001 * i for i in range(12)]
    assert math.comb(24, 12) > MAX_DEALS
    p = permutation_worse(base, new)
    assert p == permutation_worse(base, new)  # reproducible
    assert least_p(12, 12) < p <= 1 / (MAX_DEALS + 1)  # never 0: the observed deal counts as one
    overlapping = [0.5 + 0.001 * i for i in range(12)]
    assert permutation_worse(base, overlapping) < 0.01 < permutation_worse(overlapping, base)


def test_wilson_intervals_match_the_references():
    """REFERENCES.md, "Few seeds": 3 of 3 [0.44, 1], 5 of 5 [0.57, 1], 0 of 3 [0, 0.56]."""
    assert [round(x, 2) for x in wilson(3, 3)] == [0.44, 1.0]
    assert [round(x, 2) for x in wilson(5, 5)] == [0.57, 1.0]
    assert [round(x, 2) for x in wilson(0, 3)] == [0.0, 0.56]
    assert wilson(0, 0) == (0.0, 1.0)


def test_the_level_is_alpha_or_the_least_p_the_seeds_allow():
    two = solved_test(2, 2, 0, 2)
    assert two.least == pytest.approx(1 / 6) and two.level == pytest.approx(1 / 6) and two.apart and two.beyond
    assert not solved_test(2, 2, 1, 2).beyond  # NEW's seeds split
    assert not solved_test(1, 2, 0, 2).beyond  # BASE's seeds split
    assert solved_test(5, 5, 1, 5).beyond and not solved_test(5, 5, 1, 5).apart  # p = 6/252 <= 0.05
    assert not solved_test(5, 5, 1, 5, alpha=0.01).beyond
    assert not solved_test(5, 5, 2, 5).beyond  # p = 21/252
    one = accuracy_test([0.8], [0.7])
    assert one.least == 0.5 and one.beyond  # one seed a side: no spread to judge against
    assert not accuracy_test([0.8], [0.9]).beyond


# -- the noise-aware gate ----------------------------------------------------------------------------------------

def cross_machine_pair():
    """The issue's compare, in miniature: the same code and seeds on another CPU. Cells on a learner's boundary
    flipped (rnn's spread cell, lru's and mamba's split rungs, one gru seed at its last rung); every token is 40%
    slower there."""
    def side(new):
        tps = 6000.0 if new else 10000.0
        out = ladder("rnn", {16: [0.878, 0.5] if new else [1.0, 0.488], 32: [0.3, 0.3]}, tps=tps)
        out += ladder("lru", {32: [1.0, 1.0] if new else [1.0, 0.6]}, tps=tps)
        out += ladder("gru", {32: [1.0, 0.7] if new else [1.0, 1.0]}, tps=tps)
        out += ladder("mamba", {4: [1.0, 1.0], 8: [1.0, 1.0] if new else [1.0, 0.5], 16: ["skip"] * 2 if not new
                                else [0.4, 0.4], 32: ["skip"] * 2}, tps=tps)
        return out
    return side(False), side(True)


def test_the_same_code_on_another_machine_passes_and_names_what_it_judged_within_noise(tmp_path):
    base, new = cross_machine_pair()
    a, b = write(tmp_path, "amd", base, AMD), write(tmp_path, "intel", new, INTEL)
    code, text = gate(a, b)
    assert code == 0, text
    lines = text.splitlines()
    assert lines[1].startswith("different machines (CPU 'AMD EPYC' → 'Intel Xeon'; torch CPU kernels 'AVX2' → "
                               "'AVX512'): results reproduce to the bit only on the same CPU, torch build and threads")
    assert "throughput is not comparable (not gated)" in lines[1]
    assert "within noise (not regressions): 5 change(s):" in lines
    for line in (
            "  - reach of gru on hold fell from 32 to 16, within noise: at distance 32 2/2 seeds solved in BASE, 1/2 "
            "in NEW (p = 1/2 > 1/6, the least p 2 seeds a side allow: the two sides' seeds overlap)",
            "  - reach of lru on hold grew from 16 to 32, within noise: at distance 32 1/2 seeds solved in BASE, 2/2 "
            "in NEW (p = 1/2 > 1/6, the least p 2 seeds a side allow: the two sides' seeds overlap)",
            "  - reach of mamba on hold grew from 4 to 8, within noise: at distance 8 1/2 seeds solved in BASE, 2/2 in "
            "NEW (p = 1/2 > 1/6, the least p 2 seeds a side allow: the two sides' seeds overlap)",
            "  - rnn on hold at distance 16: mean test accuracy fell 0.744 → 0.689 (-0.055, more than 0.02), within "
            "noise: p = 1/2 > 1/6, the least p 2 seeds a side allow: the two sides' seeds overlap (BASE 0.488–1.000, "
            "NEW 0.500–0.878)"):
        assert line in lines, line
    assert "not gated: the two sides ran on different machines" in text
    assert lines[-1] == ("no regression beyond noise: accuracy within 0.02 or within its seeds' spread, reach kept or "
                         "within noise (5 change(s) within noise), no run raising, throughput not gated (different "
                         "machines)")
    # --strict on the same pair: today's exact comparison fails on the flipped cells and on the machine's speed
    code, text = gate(a, b, strict=True)
    assert code == 1
    assert "  - reach of gru on hold fell from 32 to 16" in text.splitlines()
    assert "rnn on hold at distance 16: mean test accuracy fell 0.744 → 0.689 (-0.055, more than 0.02)" in text
    assert "rnn: training throughput 67% slower" in text
    assert "within noise" not in text.replace("so here only within noise", "")


def test_a_learner_that_now_fails_every_rung_fails_on_any_machine(tmp_path):
    base, new = cross_machine_pair()
    new = [r for r in new if r["label"] != "gru"] + ladder("gru", {4: [0.3, 0.3], 8: ["skip"] * 2, 16: ["skip"] * 2,
                                                                  32: ["skip"] * 2})
    code, text = gate(write(tmp_path, "a", base, AMD), write(tmp_path, "b", new, INTEL))
    assert code == 1
    regressions = text.splitlines()[text.splitlines().index("REGRESSION: NEW is worse than BASE in 2 way(s):") + 1:]
    assert regressions == [
        f"  - reach of gru on hold fell from 32 to 0: at distance 4 2/2 seeds solved in BASE, 0/2 in NEW ({TWO})",
        f"  - gru on hold at distance 4: mean test accuracy fell 1.000 → 0.300 (-0.700, more than 0.02), {TWO}"]
    assert "within noise (not regressions): 3 change(s):" in text  # the other learners' flips are still named


def test_a_reach_that_falls_below_a_rung_both_seeds_solved_fails(tmp_path):
    base = ladder("gru", {})  # every rung 2/2: reach 32
    new = ladder("gru", {16: [0.6, 0.7], 32: ["skip"] * 2})  # both seeds fail 16, 32 pruned
    result = compare_results(recs(base), recs(new), max_accuracy_drop=1, env_base=AMD, env_new=INTEL)
    assert result.regressions == [f"reach of gru on hold fell from 32 to 8: at distance 16 2/2 seeds solved in BASE, "
                                  f"0/2 in NEW ({TWO})"]
    # one seed of two failing at 16 is within noise, whatever the pruning above it
    split = ladder("gru", {16: [1.0, 0.7], 32: ["skip"] * 2})
    result = compare_results(recs(base), recs(split), max_accuracy_drop=1, env_base=AMD, env_new=INTEL)
    assert result.regressions == []
    assert result.within_noise == ["reach of gru on hold fell from 32 to 8, within noise: at distance 16 2/2 seeds "
                                   "solved in BASE, 1/2 in NEW (p = 1/2 > 1/6, the least p 2 seeds a side allow: the "
                                   "two sides' seeds overlap)"]


def test_a_run_that_now_raises_fails_on_any_machine(tmp_path):
    base, new = cross_machine_pair()
    new = [dict(r, outcome="error", error="RuntimeError: boom") if (r["label"], r["spec"]["distance"],
                                                                     r["spec"]["seed"]) == ("lru", 8, 1) else r
           for r in new]
    code, text = gate(write(tmp_path, "a", base, AMD), write(tmp_path, "b", new, INTEL))
    assert code == 1
    assert "  - lru on hold at distance 8: 1 more run(s) raised in NEW" in text.splitlines()


def test_a_drop_inside_the_seed_range_passes_unless_strict(tmp_path):
    base = ladder("lstm", {4: [0.5, 0.9]}, distances=(4,))
    new = ladder("lstm", {4: [0.6, 0.6]}, distances=(4,))  # mean 0.7 -> 0.6, inside BASE's 0.5-0.9
    a, b = write(tmp_path, "a", base), write(tmp_path, "b", new)
    code, text = gate(a, b)
    assert code == 0, text
    assert ("  - lstm on hold at distance 4: mean test accuracy fell 0.700 → 0.600 (-0.100, more than 0.02), within "
            "noise: p = 1/2 > 1/6, the least p 2 seeds a side allow: the two sides' seeds overlap (BASE 0.500–0.900, "
            "NEW 0.600)") in text.splitlines()
    code, text = gate(a, b, strict=True)
    assert code == 1 and "lstm on hold at distance 4: mean test accuracy fell 0.700 → 0.600" in text
    # below every BASE seed, by more than the threshold: beyond noise
    assert gate(a, write(tmp_path, "c", ladder("lstm", {4: [0.45, 0.4]}, distances=(4,))))[0] == 1


def test_a_drop_with_every_seed_at_chance_is_noise_and_one_from_above_chance_is_not(tmp_path):
    """hold with 8 symbols: chance 0.125 over 256 test answers, so at most 0.125 + 2 x 0.0207 = 0.166 is still chance.
    A constant answer scores the frequency of its class in the seed's test stream: 0.133 on one side's seeds, 0.094
    on the other's, with nothing learned on either."""
    def at(acc, seed, d=8):
        r = run("cnn", d, seed, acc)
        r.update(baseline_accuracy=0.125, test_by_distance={str(d): [round(acc * 256), 256]})
        return r

    base = [at(0.133, 0), at(0.137, 1)]
    new = [at(0.094, 0), at(0.078, 1)]
    a, b = write(tmp_path, "a", base), write(tmp_path, "b", new)
    code, text = gate(a, b)
    assert code == 0, text
    assert ("  - cnn on hold at distance 8: mean test accuracy fell 0.135 → 0.086 (-0.049, more than 0.02), within "
            "noise: every seed of both sides at chance (≤ 0.166, the memoryless baseline + 2 binomial standard errors "
            "of its test answers)") in text.splitlines()
    assert gate(a, b, strict=True)[0] == 1  # the exact comparison still fails it
    # a seed above the chance band on the BASE side: the fall is judged by the permutation test, and fails
    learned = write(tmp_path, "c", [at(0.30, 0), at(0.25, 1)])
    code, text = gate(learned, b)
    assert code == 1 and "no NEW seed as good as any BASE seed" in text
    # where a run does not record its baseline (an older folder), the rule does not apply
    bare = write(tmp_path, "d", [run("cnn", 8, 0, 0.133), run("cnn", 8, 1, 0.137)])
    assert gate(bare, b)[0] == 1


def test_with_five_seeds_a_split_can_be_beyond_noise():
    base = [run("tcn", 8, s, 1.0) for s in range(5)]
    new = [run("tcn", 8, s, 1.0 if s == 0 else 0.97) for s in range(5)]  # 5/5 -> 1/5, and accuracy 1.0 -> 0.976
    result = compare_results(recs(base), recs(new))
    assert result.regressions == ["reach of tcn on hold fell from 8 to 0: at distance 8 5/5 seeds solved in BASE, 1/5 "
                                  "in NEW (p = 1/42 ≤ 0.05)",
                                  "tcn on hold at distance 8: mean test accuracy fell 1.000 → 0.976 (-0.024, more than "
                                  "0.02), p = 1/42 ≤ 0.05"]
    assert compare_results(recs(base), recs(new), alpha=0.01).regressions == []


def test_the_noise_aware_gate_fails_on_a_subset_of_what_strict_fails_on():
    """On random pairs (1 to 3 seeds a side, accuracies around the solve threshold and below): every regression of the
    noise-aware gate is one of --strict's, with its evidence appended."""
    rng = random.Random(23)
    values = [1.0, 0.995, 0.985, 0.97, 0.6, 0.5, 0.3]
    checked = 0
    for _ in range(60):
        seeds = rng.randint(1, 3)

        def side(seeds=seeds):
            return [run(lrn, d, s, rng.choice(values)) for lrn in ("tcn", "gru") for d in (4, 8, 16)
                    for s in range(seeds)]

        base, new = side(), side()
        strict = compare_results(recs(base), recs(new), strict=True).regressions
        noise = compare_results(recs(base), recs(new)).regressions
        for line in noise:
            assert any(line == s or line.startswith(s + ":") or line.startswith(s + ",") for s in strict), (line,
                                                                                                             strict)
        checked += len(noise)
    assert checked > 20  # the property was exercised


def test_only_base_runs_are_judged(tmp_path):
    """An escalated run (spec "continues") and an extra seed outside the suite's seeds are left out, on both sides."""
    base = ladder("tcn", {}, distances=(4, 8))
    failed = ladder("tcn", {8: [0.5, 0.5]}, distances=(4, 8))
    rescued = failed + [run("tcn", 8, 0, 1.0, continues="hold-tcn-8-0", steps=600),
                        run("tcn", 8, 1, 1.0, continues="hold-tcn-8-1", steps=600),
                        run("tcn", 8, 7, 1.0), run("tcn", 8, 8, 1.0)]  # two extra seeds, both solved
    assert [r.seed for r in base_runs(recs(rescued), [0, 1])] == [0, 1, 0, 1]
    assert len(base_runs(recs(rescued), None)) == 6  # no suite seeds: every seed, escalations still left out
    code, text = gate(write(tmp_path, "a", base, seeds=[0, 1]), write(tmp_path, "b", rescued, seeds=[0, 1]))
    assert code == 1 and "reach of tcn on hold fell from 8 to 4" in text
    # and the other way: escalations and extra seeds that fail do not make a regression of a NEW that kept its reach
    noisy = base + [run("tcn", 8, 0, 0.2, continues="x"), run("tcn", 8, 9, 0.2)]
    assert gate(write(tmp_path, "c", base, seeds=[0, 1]), write(tmp_path, "d", noisy, seeds=[0, 1]))[0] == 0


def test_the_header_names_the_machines():
    base = recs(ladder("tcn", {}, distances=(4,)))
    same = compare_results(base, base, env_base=AMD, env_new=AMD).header[0]
    assert same.startswith("same machine (CPU 'AMD EPYC', torch 2.13.0+cpu, 1 thread(s) per run): the same code "
                           "reproduces to the bit here")
    other = dict(INTEL, versions={"torch": "2.14.0+cpu"}, torch_threads_per_run=2)
    differ = compare_results(base, base, env_base=AMD, env_new=other).header[0]
    assert differ.startswith("different machines (CPU 'AMD EPYC' → 'Intel Xeon'; torch CPU kernels 'AVX2' → 'AVX512'; "
                             "torch '2.13.0+cpu' → '2.14.0+cpu'; threads per run '1' → '2')")
    assert compare_results(base, base, env_base={}, env_new=AMD).header[0].startswith("machines unknown")
    strict = compare_results(base, base, env_base=AMD, env_new=other, strict=True).header
    assert "--strict compares accuracy exactly anyway" in strict[0] and strict[1].startswith("rule: strict")


def test_throughput_is_not_gated_across_machines_unless_strict():
    base = recs(ladder("tcn", {}, distances=(4, 8)))
    slow = recs(ladder("tcn", {}, distances=(4, 8), tps=5000.0))
    assert compare_results(base, slow, env_base=AMD, env_new=INTEL).regressions == []
    assert compare_results(base, slow, env_base=AMD, env_new=INTEL, strict=True).regressions == [
        "tcn: training throughput 100% slower (median over 2 cell(s)), more than 25%"]
    assert compare_results(base, slow, env_base=AMD, env_new=AMD).regressions == [
        "tcn: training throughput 100% slower (median over 2 cell(s)), more than 25%"]


# -- the command line ------------------------------------------------------------------------------------------------

def cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_flags(tmp_path, capsys):
    a = write(tmp_path, "a", ladder("lstm", {4: [0.5, 0.9]}, distances=(4,)))
    b = write(tmp_path, "b", ladder("lstm", {4: [0.6, 0.6]}, distances=(4,)))
    assert cli(["compare", a, b], capsys)[0] == 0
    assert cli(["compare", a, b, "--strict"], capsys)[0] == 1
    for bad in ("0", "1", "-0.1", "nan"):
        code, out, err = cli(["compare", a, b, "--alpha", bad], capsys)
        assert code == 2 and err.count("\n") == 1 and "--alpha must be a number between 0 and 1" in err, err


@pytest.mark.parametrize(("argv", "message"), [
    ([], "noise-floor needs two results folders (--base DIR --other DIR) or a suite to run twice (--suite NAME)"),
    (["--base", "X"], "noise-floor needs two results folders"),
    (["--base", "A", "--other", "B", "--seeds", "1"], "--seeds go(es) with --suite"),
    (["--suite", "smoke", "--base", "A"], "pass either --suite (run it twice) or --base and --other"),
    (["--suite", "smoke", "--other-seeds", "5,6"], "--other-seeds has 2 seed(s) and the first run 1"),
    (["--suite", "smoke", "--seeds", "0,1", "--other-seeds", "1,2"], "--other-seeds 1,2 share seeds with --seeds 0,1"),
    (["--base", "A", "--other", "B", "--alpha", "2"], "--alpha must be a number between 0 and 1"),
])
def test_noise_floor_bad_input_is_one_line(tmp_path, capsys, argv, message):
    a, b = write(tmp_path, "A", ladder("tcn", {})), write(tmp_path, "B", ladder("tcn", {}))
    argv = [a if x == "A" else b if x == "B" else x for x in argv]
    code, out, err = cli(["noise-floor", *argv], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err, err


# -- the noise floor --------------------------------------------------------------------------------------------------

def floor_pair(tmp_path):
    """Suite 'smoke' twice: seeds 0, 1 and seeds 2, 3; tcn's second seed fails 8 in B, gru fails 16 in both seeds
    of B (a whole cell flipped by seeds alone), lstm's accuracy moves within its spread."""
    a = ladder("tcn", {}, (4, 8)) + ladder("gru", {}, (4, 16)) + ladder("lstm", {4: [0.5, 0.7]}, (4,))
    b = (ladder("tcn", {8: [1.0, 0.5]}, (4, 8)) + ladder("gru", {16: [0.6, 0.7]}, (4, 16))
         + ladder("lstm", {4: [0.58, 0.59]}, (4,)))
    for r in b:
        r["spec"]["seed"] += 2
        r["id"] += "-b"
    return (write(tmp_path, "a", a, seeds=[0, 1], suite="smoke"),
            write(tmp_path, "b", b, INTEL, seeds=[2, 3], suite="smoke"))


def test_the_noise_floor_pairs_seeds_by_position_and_counts_the_flips(tmp_path):
    a, b = floor_pair(tmp_path)
    nf = noise_floor(read_side(a, "A"), read_side(b, "B"))
    assert (nf.cells, nf.pairs) == (5, 10)
    flips = [(r.label, r.rung, r.seed_a, r.seed_b, r.outcome_a, r.outcome_b) for r in nf.flips.itertuples()]
    assert sorted(flips) == [("gru", 16, 0, 2, "solved", "unsolved"), ("gru", 16, 1, 3, "solved", "unsolved"),
                             ("tcn", 8, 1, 3, "solved", "unsolved")]
    assert nf.majority == 2  # tcn 8 (2/2 -> 1/2) and gru 16 (2/2 -> 0/2)
    # tcn 8 and gru 16 moved; lstm by 0.015, within 0.02
    assert nf.accuracy == ["gru on hold at distance 16: 1.000 → 0.650", "tcn on hold at distance 8: 1.000 → 0.750"]
    assert nf.reach == ["gru on hold: 16 → 4", "tcn on hold: 8 → 4"] and nf.ladders == 3
    assert [m[0] for m in nf.machines] == ["CPU", "torch CPU kernels"]
    strict, noise = nf.gate[("strict", "A → B")], nf.gate[("noise-aware", "A → B")]
    assert len(strict.regressions) == 4  # both reaches, both accuracy drops
    assert noise.regressions == [
        f"reach of gru on hold fell from 16 to 4: at distance 16 2/2 seeds solved in BASE, 0/2 in NEW ({TWO})",
        f"gru on hold at distance 16: mean test accuracy fell 1.000 → 0.650 (-0.350, more than 0.02), {TWO}"]
    assert nf.gate[("noise-aware", "B → A")].regressions == []


def test_the_noise_floor_prints_its_figures(tmp_path):
    a, b = floor_pair(tmp_path)
    console = Console(record=True, width=250, force_terminal=False, file=io.StringIO())
    run_noise_floor(a, b, console=console)
    lines = console.export_text().splitlines()
    assert lines[0] == (f"noise floor of suite 'smoke': A {a} (seeds 0, 1) against B {b} (seeds 2, 3), seeds paired by "
                        f"position (0↔2, 1↔3); the same code, so every difference is noise")
    for line in ("seed pairs solved on one side only (flips): 3 of 10 (30.0%; 95% Wilson interval 10.8–60.3%)",
                 "cells solved by a majority of seeds on one side only: 2 of 5 (40.0%; 95% Wilson interval 11.8–76.9%)",
                 "reach or capacity that differs: 2 of 3 ladder(s) (gru on hold: 16 → 4; tcn on hold: 8 → 4)",
                 "  noise-aware, A → B: 2 accuracy, reach or raise regression(s), 2 change(s) judged within noise; 0 "
                 "learner(s) slower by more than 25%; exit 1"):
        assert line in lines, line
    assert any(line.startswith("    - false alarm: reach of gru on hold fell from 16 to 4") for line in lines)


def test_the_noise_floor_refuses_two_suites_or_unequal_seeds(tmp_path):
    a = write(tmp_path, "a", ladder("tcn", {}), seeds=[0, 1], suite="smoke")
    with pytest.raises(ReachError, match=re.escape("ran suite 'smoke' and B") + ".*suite 'long-range'"):
        noise_floor(read_side(a, "A"), read_side(write(tmp_path, "b", ladder("tcn", {}), seeds=[0, 1]), "B"))
    three = write(tmp_path, "c", ladder("tcn", {1: [1.0] * 3}, (1,)), seeds=[4, 5, 6], suite="smoke")
    with pytest.raises(ReachError, match=r"has 2 seed\(s\) \(0, 1\) and B .* 3 \(4, 5, 6\): seeds are paired by"):
        noise_floor(read_side(a, "A"), read_side(three, "B"))
    with pytest.raises(ReachError, match="is a folder without runs.jsonl"):
        read_side(tmp_path, "A (--base)")


@pytest.mark.slow
def test_noise_floor_runs_a_suite_twice_and_can_resume(tmp_path, capsys):
    suite = tmp_path / "tiny.toml"
    suite.write_text('name = "tiny"\nseeds = [0]\nprune = false\n[defaults]\nd_model = 16\nn_layers = 1\nsteps = 20\n'
                     'eval_every = 10\nbatch_size = 8\nval_batches = 1\ntest_batches = 1\n'
                     '[[learners]]\nname = "tcn"\n[[tasks]]\nname = "lag"\ndistances = [4]\n')
    out = tmp_path / "nf"
    argv = ["noise-floor", "--suite", str(suite), "--out", str(out), "--workers", "1"]
    code, text, err = cli(argv, capsys)
    assert code == 0, err
    assert (out / "seeds-0" / "runs.jsonl").exists() and (out / "seeds-1" / "runs.jsonl").exists()
    assert "noise floor of suite 'tiny'" in text and "(seeds 0) against B" in text and "(seeds 1)" in text
    assert f"python run.py noise-floor --base {out / 'seeds-0'} --other {out / 'seeds-1'}" in text
    assert "with one seed a side there is no spread" in text
    code, again, err = cli(argv, capsys)  # the same --out: both runs resume, nothing is run again
    assert code == 0, err
    for seeds in ("seeds-0", "seeds-1"):
        assert len((out / seeds / "runs.jsonl").read_text().splitlines()) == 1
    assert again.splitlines()[-8:] == text.splitlines()[-8:]


# -- the "done when", on the committed long-range baseline (whatever its numbers) -------------------------

BASELINE = ROOT / "results" / "baselines" / "long-range"


def test_the_committed_baseline_on_another_machine_passes_and_a_broken_learner_fails(tmp_path):
    """NEW is the committed baseline as another CPU might give it: in every cell whose seeds split, one seed flipped
    (alternately the solved one failing and the failed one solving). compare exits 0 and names those cells within
    noise; the same NEW with one learner broken (every run of it that trained now near chance) exits 1 and names it."""
    rows = [json.loads(line) for line in (BASELINE / "runs.jsonl").read_text().splitlines() if line.strip()]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r["outcome"] in ("solved", "unsolved"):
            groups.setdefault(json.dumps({k: v for k, v in r["spec"].items() if k != "seed"}, sort_keys=True),
                              []).append(r)
    split = [g for g in groups.values() if len({r["outcome"] for r in g}) == 2]
    assert split, "the baseline has no cell whose seeds split: this test needs one"
    flipped = {}
    for i, g in enumerate(split):
        solved = [r for r in g if r["outcome"] == "solved"]
        failed = [r for r in g if r["outcome"] == "unsolved"]
        if i % 2 == 0:  # the solved seed fails, at the accuracy of the one that failed
            flipped[solved[0]["id"]] = {"outcome": "unsolved", "test_accuracy": failed[0]["test_accuracy"],
                                        "steps_to_solve": None}
        else:
            flipped[failed[0]["id"]] = {"outcome": "solved", "test_accuracy": 1.0,
                                        "steps_to_solve": failed[0]["steps_run"]}
    base_env = json.loads((BASELINE / "env.json").read_text())
    other_cpu = "AMD EPYC" if base_env["cpu"] != "AMD EPYC" else "Intel(R) Xeon(R) Processor @ 2.80GHz"
    env = {**base_env, "cpu": other_cpu}  # whichever CPU the committed baseline did not run on

    def new_side(name, rows):
        path = tmp_path / name
        path.mkdir()
        (path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (path / "suite.toml").write_text((BASELINE / "suite.toml").read_text())
        (path / "env.json").write_text(json.dumps(env))
        return str(path)

    noisy = [dict(r, **flipped.get(r["id"], {})) for r in rows]
    code, text = gate(str(BASELINE), new_side("noisy", noisy))
    assert code == 0, text
    assert f"different machines (CPU '{base_env['cpu']}' → '{other_cpu}')" in text
    code, strict = gate(str(BASELINE), str(tmp_path / "noisy"), strict=True)
    alarms = [line for line in listed(strict, "REGRESSION:") if "throughput" not in line]
    assert code == 1 and alarms, "the flips fool --strict (else this test shows nothing)"
    within = listed(text, "within noise (not regressions):")
    for alarm in alarms:  # each of --strict's false alarms is named, with its evidence, as within noise
        assert any(line.startswith(alarm + ",") for line in within), (alarm, within)
    # break one learner that solved its first rung in every seed
    first = min(r["spec"]["distance"] for r in rows)
    solid = sorted({r["label"] for r in rows if r["spec"]["distance"] == first and r["outcome"] == "solved"}
                   - {r["label"] for r in rows if r["spec"]["distance"] == first and r["outcome"] != "solved"})
    assert solid, "no learner of the baseline solves the first rung in every seed: this test needs one"
    broken = [dict(r, outcome="unsolved", test_accuracy=0.05, steps_to_solve=None)
              if r["label"] == solid[0] and r["outcome"] in ("solved", "unsolved") else r for r in noisy]
    code, text = gate(str(BASELINE), new_side("broken", broken))
    assert code == 1
    regressions = listed(text, "REGRESSION:")
    assert regressions and all(f" {solid[0]} " in f" {line} " for line in regressions), regressions
    assert any(line.startswith(f"reach of {solid[0]} on hold") for line in regressions)


def listed(text: str, title: str) -> list[str]:
    """The '  - ' lines printed under the line that starts with ``title``."""
    lines = text.splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith(title)]
    out = []
    for line in lines[at[0] + 1:] if at else []:
        if not line.startswith("  - "):
            break
        out.append(line[4:])
    return out


def test_the_readme_seeds_table_is_what_the_tests_give():
    """README, "Choosing seeds": each row's least p, level, and the chance to catch a rung whose head seeds now solve
    it with probability 0.5, 0.2 or 0, from the tests themselves."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("**Choosing seeds.**", 1)[1].split("\n\n", 2)[1]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()[2:]]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5, 6]
    for k, least, level, most, caught in ([int(r[0]), *r[1:]] for r in rows):
        assert least == f"1/{math.comb(2 * k, k)}" and least_p(k, k) == pytest.approx(1 / math.comb(2 * k, k))
        held = max(0.05, least_p(k, k))
        assert level == f"{held:.2g}"
        worst = max(j for j in range(k + 1) if solved_test(k, k, j, k).beyond)
        assert most == f"{worst} of {k}"

        def chance(q, k=k, worst=worst):
            return sum(math.comb(k, j) * q ** j * (1 - q) ** (k - j) for j in range(worst + 1))

        assert caught == " / ".join(f"{100 * chance(q):.0f}%" for q in (0.5, 0.2, 0.0)), k
