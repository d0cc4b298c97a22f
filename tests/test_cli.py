"""The command line as a user meets it: real subprocesses, stderr and exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.config.spec import RunSpec
from harness.run.train import train
from harness.store.folder import read_runs
from harness.store.table import COLUMNS, runs_frame

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=ROOT, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env)


def assert_clean_error(proc, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("args,needles", [
    (["train", "--learner", "lsmt", "--task", "lag", "--distance", "4"], ["unknown learner 'lsmt'", "lstm"]),
    (["train", "--learner", "lstm", "--task", "lagg", "--distance", "4"], ["unknown task 'lagg'", "lag"]),
    (["train", "--learner", "lstm", "--task", "lag", "--distance", "64", "--seq-len", "32"],
     ["longer than the sequence"]),
    (["train", "--learner", "local-attention", "--task", "lag", "--distance", "4", "--opt", "window"],
     ["malformed", "--opt"]),
    (["train", "--learner", "tcn", "--task", "lag", "--distance", "4", "--opt", "windw=3"], ["windw"]),
    (["train", "--learner", "tcn", "--task", "lag", "--distance", "0"], ["distance"]),
    (["train", "--learner", "tcn", "--task", "lag"], ["--distance"]),
    (["train", "--learner", "tcn", "--task", "lag", "--distance", "four"], ["four"]),
    (["--suite", "no-such-suite"], ["unknown suite 'no-such-suite'"]),
    (["--suite", "long-range", "--workers", "0"], ["--workers"]),
    (["bogus-command"], ["bogus-command"]),
])
def test_bad_input_is_one_line_exit_2(args, needles):
    assert_clean_error(run(*args), *needles)


def test_malformed_suite_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\n[[learners]\n")
    assert_clean_error(run("--suite", str(bad), "--out", str(tmp_path / "o")), "not valid TOML")
    typo = tmp_path / "typo.toml"
    typo.write_text("name='x'\nseeds=[0]\n[defaults]\nsteeps = 3\n[[learners]]\nname='tcn'\n"
                    "[[tasks]]\nname='lag'\ndistances=[4]\n")
    assert_clean_error(run("--suite", str(typo), "--out", str(tmp_path / "o")), "steeps", "steps")


def test_unwritable_results_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert_clean_error(run("--suite", "smoke", "--out", str(blocker / "sub")), "not writable")


def test_corrupt_results_folder_is_reported_and_left_alone(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    content = '{"id": "abc", "outcome": "solved"}\nthis is not json\n{"id": "def", "outcome": "solved"}\n'
    (out / "runs.jsonl").write_text(content)
    assert_clean_error(run("--suite", "smoke", "--out", str(out)), "corrupt")
    assert (out / "runs.jsonl").read_text() == content


def test_train_json_and_text():
    proc = run("train", "--learner", "tcn", "--task", "lag", "--distance", "4", "--steps", "30",
               "--d-model", "16", "--eval-every", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["spec"]["learner"] == "tcn"
    # the same numbers as the library gives for the same spec (training is deterministic), and an accuracy that
    # is the micro average of the per-distance counts
    same = train(RunSpec(task="lag", distance=4, learner="tcn", steps=30, d_model=16, eval_every=10))
    assert result["test_accuracy"] == same.test_accuracy and result["test_loss"] == same.test_loss
    assert result["outcome"] == str(same.outcome) and result["steps_run"] == same.steps_run
    correct, total = result["test_by_distance"]["4"]
    assert list(result["test_by_distance"]) == ["4"] and total == 16 * 32 * 32  # test batches x batch x scored
    assert result["test_accuracy"] == correct / total
    assert result["baseline_accuracy"] == 1 / 16
    proc = run("train", "--learner", "local-attention", "--task", "lag", "--distance", "4", "--steps", "10",
               "--d-model", "16", "--opt", "window=8", "--eval-every", "5")
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout and "memoryless baseline" in proc.stdout
    assert "local-attention[window=8]" in proc.stdout


def test_list_mentions_every_learner_task_and_suite():
    from harness.config.builtin import BUILTIN_SUITES
    from learners import LEARNERS
    from tasks import TASKS

    proc = run("list")
    assert proc.returncode == 0
    for name in [*LEARNERS, *TASKS, *BUILTIN_SUITES]:
        assert f"  {name} " in proc.stdout


def test_train_seq_len_sets_the_length_of_induction():
    proc = run("train", "--learner", "gru", "--task", "induction", "--distance", "4", "--seq-len", "13", "--steps",
               "2", "--d-model", "8", "--eval-every", "2", "--batch-size", "4", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["seq_len"] == 13 and result["spec"]["seq_len"] == 13
    assert RunSpec.from_dict(result["spec"]).task_obj.prefix == 13 - 4


TINY_SUITE = """
name = "flags"
seeds = [0]
prune = true
[defaults]
d_model = 8
n_layers = 1
steps = 50
eval_every = 2
batch_size = 4
val_batches = 1
test_batches = 1
[[learners]]
name = "tcn"
[[learners]]
name = "gru"
[[tasks]]
name = "lag"
distances = [16, 32]
[[tasks]]
name = "copy"
distances = [16]
"""


def test_sweep_flags_from_the_command_line(tmp_path):
    """--seeds, --learners, --tasks, --distances, --steps, --no-prune and --executor in-process each change the runs
    made; runs.csv and runs.parquet hold the same rows as runs.jsonl."""
    suite = tmp_path / "flags.toml"
    suite.write_text(TINY_SUITE)
    out = tmp_path / "out"
    proc = run("--suite", str(suite), "--seeds", "1,2", "--learners", "gru", "--tasks", "lag", "--distances", "2,3",
               "--steps", "2", "--no-prune", "--executor", "in-process", "--no-report", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "(in-process, " in proc.stdout
    records = read_runs(out)
    assert sorted((r.learner, r.task, r.distance, r.seed) for r in records) == [
        ("gru", "lag", d, s) for d in (2, 3) for s in (1, 2)]
    # two steps solve nothing: with pruning, distance 3 would have been skipped after 2 failed in both seeds
    assert {str(r.outcome) for r in records} == {"unsolved"} and {r.steps_run for r in records} == {2}
    assert {r.spec["steps"] for r in records} == {2}
    env = json.loads((out / "env.json").read_text())
    assert env["sessions"][-1]["executor"] == "in-process" and env["sessions"][-1]["end"]

    expected = runs_frame(records).sort_values("id").reset_index(drop=True)
    table = pd.read_csv(out / "runs.csv")
    assert list(table.columns) == COLUMNS and len(table) == 4
    table = table.sort_values("id").reset_index(drop=True)
    assert list(table.id) == list(expected.id)
    for column in ("label", "learner", "task", "outcome", "stop_reason"):
        assert list(table[column]) == list(expected[column]), column
    for column in ("distance", "seed", "rung", "steps_run", "params", "d_model", "seq_len", "load", "steps"):
        assert list(table[column]) == [int(v) for v in expected[column]], column
    for column in ("test_accuracy", "test_loss", "test_exact_match", "baseline_accuracy", "tokens_per_s"):
        assert list(table[column]) == pytest.approx(list(expected[column]), rel=1e-12), column
    by_id = {r.id: r for r in records}
    assert list(table.test_accuracy) == pytest.approx([by_id[i].test_accuracy for i in table.id], rel=1e-12)
    parquet = pd.read_parquet(out / "runs.parquet").sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(parquet, expected)
