"""The command line as a user meets it: real subprocesses, stderr and exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert result["spec"]["learner"] == "tcn" and 0 <= result["test_accuracy"] <= 1
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
