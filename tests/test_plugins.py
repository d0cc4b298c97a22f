"""Users' own learners and tasks (``package.module:Class``), defined outside reach's packages: the public contract
checks, `run.py train`, a TOML suite swept by the process pool, and one-line errors for bad references."""

import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from examples.mylearners import GatedConv
from examples.mytasks import DelayedSum
from harness.cli import main
from harness.config.suites import load_suite
from harness.store.folder import read_runs
from learners.checks import check_learner
from tasks import TASKS, Batch, Task
from tasks.checks import check_task

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=ROOT, pythonpath=(), timeout=300):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, pythonpath), str(ROOT)])}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=env)


# -- the public contract checks ------------------------------------------------------------------------------------

def test_user_learner_passes_check_learner():
    check_learner(GatedConv)
    check_learner(GatedConv, kernel_size=2)


def test_user_task_passes_check_task():
    check_task(DelayedSum)
    check_task(DelayedSum, vocab=3, scored=5, distances=(1, 7))


def test_check_task_says_which_distance_a_task_refuses():
    with pytest.raises(AssertionError, match="cannot build at distance 4"):
        check_task(TASKS["recall"])
    check_task(TASKS["recall"], distance=32)


def _replace(batch: Batch, **fields) -> Batch:
    return dataclasses.replace(batch, **fields)


@dataclasses.dataclass(frozen=True)
class GlobalRNG(DelayedSum):
    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        return _replace(b, inputs=torch.randint(0, self.vocab, b.inputs.shape))


@dataclasses.dataclass(frozen=True)
class AdvancesGlobalRNG(DelayedSum):
    def sample(self, batch_size, generator):
        torch.rand(1)  # output unaffected, but every other user of the global RNG now sees other numbers
        return super().sample(batch_size, generator)


@dataclasses.dataclass(frozen=True)
class OutOfVocab(DelayedSum):
    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        return _replace(b, inputs=b.inputs + 1)


@dataclasses.dataclass(frozen=True)
class TargetOutOfRange(DelayedSum):
    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        return _replace(b, targets=b.targets + self.vocab * b.mask)


@dataclasses.dataclass(frozen=True)
class DistanceOffMask(DelayedSum):
    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        return _replace(b, distance=torch.full_like(b.distance, self.distance))


@dataclasses.dataclass(frozen=True)
class DistanceTooFar(DelayedSum):
    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        return _replace(b, distance=b.distance * 2)


@dataclasses.dataclass(frozen=True)
class IgnoresGenerator(DelayedSum):
    def sample(self, batch_size, generator):
        return super().sample(batch_size, torch.Generator().manual_seed(0))


@dataclasses.dataclass(frozen=True)
class WrongDtype(DelayedSum):
    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        return _replace(b, inputs=b.inputs.int())


@dataclasses.dataclass(frozen=True)
class BadBaseline(DelayedSum):
    def baseline(self):
        return {"accuracy": 1.0 / self.vocab}


@dataclasses.dataclass(frozen=True)
class NoRule(DelayedSum):
    rule = Task.rule  # what a task written before rules existed looks like


@dataclasses.dataclass(frozen=True)
class WrongRule(DelayedSum):
    def sample(self, batch_size, generator):
        b = super().sample(batch_size, generator)
        return _replace(b, targets=(b.targets + b.mask.long()) % self.vocab)  # off by one, still in range


BROKEN = [
    (GlobalRNG, "same seed differ"),
    (AdvancesGlobalRNG, "advanced the global RNG"),
    (OutOfVocab, "outside [0, input_vocab"),
    (TargetOutOfRange, "outside [0, output_size"),
    (DistanceOffMask, "exactly at scored"),
    (DistanceTooFar, "before the start of the sequence"),
    (IgnoresGenerator, "different seeds are identical"),
    (WrongDtype, "expected (5, 20) int64"),
    (BadBaseline, "baseline() must return"),
    (NoRule, "declare 'rule'"),
    (WrongRule, "breaks the task's rule: target at"),
]


@pytest.mark.parametrize(("cls", "message"), BROKEN, ids=[c.__name__ for c, _ in BROKEN])
def test_check_task_catches_broken_tasks(cls, message):
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_task(cls, distance=4)


# -- the command line ------------------------------------------------------------------------------------------------

def test_train_user_learner_and_user_task():
    proc = run("train", "--learner", "examples.mylearners:GatedConv", "--opt", "kernel_size=3", "--task",
               "examples.mytasks:DelayedSum", "--distance", "4", "--steps", "20", "--eval-every", "10",
               "--d-model", "16", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["label"] == "examples.mylearners:GatedConv[kernel_size=3]"
    assert result["spec"]["task"] == "examples.mytasks:DelayedSum" and result["steps_run"] >= 10
    assert result["outcome"] in ("solved", "unsolved") and result["params"] > 0


@pytest.mark.parametrize(("args", "needles"), [
    (["--learner", "nosuchpkg.models:Mine"], ["learner 'nosuchpkg.models:Mine'", "cannot import module", "PYTHONPATH"]),
    (["--learner", "examples.mylearners:Missing"], ["has no attribute 'Missing'"]),
    (["--learner", "examples.mytasks:DelayedSum"], ["is not a subclass of learners.base.Learner"]),
    (["--learner", "examples.mylearners:"], ["is written 'package.module:Class'"]),
    (["--learner", "examples.mylearners:GatedConv", "--opt", "kernel=3"], ["no option 'kernel'", "kernel_size"]),
    (["--task", "examples.mylearners:GatedConv"], ["is not a subclass of tasks.base.Task"]),
    (["--task", "examples.mytasks:DelayedSum", "--task-opt", "vocab=1"], ["vocab must be in [2"]),
])
def test_bad_references_are_one_line_exit_2(args, needles, capsys):
    base = {"--learner": "tcn", "--task": "lag"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = ["train", "--distance", "4", "--steps", "5"] + [x for kv in base.items() for x in kv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_example_suite_file_loads():
    suite = load_suite(str(ROOT / "examples" / "my_suite.toml"))
    labels = {s.label for s in suite.specs()}
    assert "examples.mylearners:GatedConv[kernel_size=4]" in labels
    assert {s.task for s in suite.specs()} == {"lag", "examples.mytasks:DelayedSum"}


@pytest.mark.slow
def test_user_learner_swept_from_toml_by_process_pool(tmp_path):
    """A module that exists only in the user's project folder (not in reach), found through PYTHONPATH by the
    parent and by the spawned workers."""
    project = tmp_path / "project"
    (project / "mymodels").mkdir(parents=True)
    (project / "mymodels" / "__init__.py").write_text("")
    (project / "mymodels" / "conv.py").write_text((ROOT / "examples" / "mylearners" / "gated.py").read_text())
    (project / "suite.toml").write_text(textwrap.dedent("""
        name = "plugin-sweep"
        seeds = [0]
        prune = false
        [defaults]
        d_model = 16
        n_layers = 1
        steps = 20
        eval_every = 10
        batch_size = 8
        val_batches = 1
        test_batches = 1
        [[learners]]
        name = "mymodels.conv:GatedConv"
        [[learners]]
        name = "tcn"
        [[tasks]]
        name = "examples.mytasks:DelayedSum"
        distances = [4, 8]
    """))
    out = tmp_path / "results"
    proc = run("--suite", "suite.toml", "--workers", "2", "--out", str(out), "--no-report", cwd=project,
               pythonpath=[project])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "process-pool, 2 worker(s)" in proc.stdout
    records = read_runs(out)
    assert len(records) == 4
    mine = [r for r in records if r.label == "mymodels.conv:GatedConv"]
    assert sorted(r.spec["distance"] for r in mine) == [4, 8]
    assert all(r.outcome in ("solved", "unsolved") and r.error is None for r in records), records


def test_user_module_not_on_path_is_a_clear_error(tmp_path):
    (tmp_path / "onlyhere.py").write_text("from learners import Learner\nclass Mine(Learner):\n    pass\n")
    proc = run("train", "--learner", "onlyhere:Mine", "--task", "lag", "--distance", "4", cwd=tmp_path)
    assert proc.returncode == 2
    assert "cannot import module 'onlyhere'" in proc.stderr and "PYTHONPATH" in proc.stderr
