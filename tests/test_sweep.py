"""Sweeps: resume after SIGKILL, the folder lock, pruning, and executors agreeing on the numbers."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.config.plan import DISTANCE, Cell
from harness.config.spec import RunSpec
from harness.config.suites import Suite, load_suite
from harness.run.executors import InProcessExecutor, ProcessPoolExecutor
from harness.run.sweep import Ladder, run_suite
from harness.run.train import train
from harness.store.folder import ResultsFolder, read_runs
from harness.store.record import RunRecord

ROOT = Path(__file__).resolve().parent.parent

SUITE = """
name = "tiny"
seeds = [0, 1, 2]
prune = false
[defaults]
d_model = 16
steps = 60
eval_every = 20
batch_size = 8
val_batches = 1
test_batches = 2
[[learners]]
name = "tcn"
[[learners]]
name = "gru"
[[tasks]]
name = "lag"
distances = [4, 8]
"""


def sweep_cmd(suite_file, out, *extra):
    return [sys.executable, str(ROOT / "run.py"), "--suite", str(suite_file), "--out", str(out), "--workers", "2",
            "--no-report", *extra]


def test_sigkill_mid_sweep_then_resume(tmp_path):
    suite_file = tmp_path / "tiny.toml"
    suite_file.write_text(SUITE)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(sweep_cmd(suite_file, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env, start_new_session=True)
    runs = out / "runs.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline:
        if runs.exists() and len(runs.read_text().splitlines()) >= 3:
            break
        if proc.poll() is not None:
            pytest.fail(f"sweep ended before it could be killed: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-sweep
    proc.wait()
    before = runs.read_bytes()
    finished_before = len(read_runs(out))
    assert 3 <= finished_before < 12

    resumed = subprocess.run(sweep_cmd(suite_file, out), capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {finished_before} of 12" in resumed.stdout
    after = runs.read_bytes()
    assert after.startswith(before[: before.rfind(b"\n") + 1])  # nothing written before was changed
    records = [json.loads(line) for line in after.splitlines() if line.strip()]
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == 12  # nothing lost, nothing duplicated
    expected = {s.id for s in load_suite(str(suite_file)).specs()}
    assert set(ids) == expected
    assert json.loads((out / "env.json").read_text())["sessions"][-1]["end"]
    # the table holds every run once, the old session's and the new one's, with the numbers of runs.jsonl
    table = pd.read_csv(out / "runs.csv").set_index("id")
    assert sorted(table.index) == sorted(ids)
    for r in records:
        row = table.loc[r["id"]]
        assert (row.outcome, row.learner, row.distance, row.seed) == (r["outcome"], r["spec"]["learner"],
                                                                       r["spec"]["distance"], r["spec"]["seed"])
        assert row.test_accuracy == pytest.approx(r["test_accuracy"], rel=1e-12)


def test_second_sweep_on_same_folder_is_refused(tmp_path):
    suite_file = tmp_path / "tiny.toml"
    suite_file.write_text(SUITE)
    out = tmp_path / "out"
    with ResultsFolder(out):
        proc = subprocess.run(sweep_cmd(suite_file, out), capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert "in use" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (out / "runs.jsonl").exists()


def test_torn_last_line_is_set_aside(tmp_path):
    (tmp_path / "runs.jsonl").write_bytes(b'{"id": "a", "outcome": "solved"}\n{"id": "b", "outc')
    with ResultsFolder(tmp_path) as folder:
        assert [r.id for r in folder.existing] == ["a"]
        folder.append(RunRecord.from_json({"id": "c", "outcome": "solved"}))
    assert [r.id for r in read_runs(tmp_path)] == ["a", "c"]
    assert b'"outc' in (tmp_path / "runs.jsonl.torn").read_bytes()


def fake(spec, outcome):
    return RunRecord.from_json({"id": spec.id, "spec": spec.to_dict(), "outcome": outcome})


def test_ladder_prunes_once_a_rung_is_not_solved_by_a_majority():
    specs = [RunSpec(task="lag", distance=d, learner="rnn", seed=s) for d in (4, 8, 16) for s in (0, 1, 2)]
    cells = [Cell("lag", DISTANCE, s.distance, "rnn", s.seed, s) for s in specs]
    ladder = Ladder(cells, prune=True)
    ready, skip = ladder.plan({}, set())
    assert {(s.distance, s.seed) for s in ready} == {(4, 0), (4, 1), (4, 2)} and not skip
    done = {s.id: fake(s, "solved" if s.seed < 2 else "unsolved") for s in specs[:2]}
    ready, skip = ladder.plan(done, set())
    assert {(s.distance, s.seed) for s in ready} == {(4, 2)} and not skip  # a rung waits for all its seeds
    done.update({specs[2].id: fake(specs[2], "unsolved")})
    ready, skip = ladder.plan(done, set())
    assert {s.distance for s in ready} == {8} and not skip  # 2 of 3 solved: a majority, go on
    done.update({s.id: fake(s, "solved" if s.seed == 0 else o) for s, o in zip(specs[3:6], ("", "unsolved", "error"))})
    ready, skip = ladder.plan(done, set())  # 1 of 3 solved at 8: the reach is 4 whatever 16 gives
    assert not ready and {(s.distance, s.seed, axis, d) for s, axis, d in skip} == {(16, k, DISTANCE, 8)
                                                                                    for k in (0, 1, 2)}
    assert RunRecord.skipped(skip[0][0], 8).stop_reason == "not solved by a majority at a shorter distance (8)"
    ready, skip = Ladder(cells, prune=False).plan({}, set())
    assert len(ready) == 9 and not skip


def test_ladder_with_two_seeds_needs_both():
    specs = [RunSpec(task="lag", distance=d, learner="rnn", seed=s) for d in (4, 8) for s in (0, 1)]
    cells = [Cell("lag", DISTANCE, s.distance, "rnn", s.seed, s) for s in specs]
    one = {s.id: fake(s, "solved" if s.seed == 0 else "diverged") for s in specs[:2]}
    ready, skip = Ladder(cells, prune=True).plan(one, set())
    assert not ready and {(s.distance, d) for s, _, d in skip} == {(8, 4)}
    both = {s.id: fake(s, "solved") for s in specs[:2]}
    ready, skip = Ladder(cells, prune=True).plan(both, set())
    assert {s.distance for s in ready} == {8} and not skip


def test_pruned_sweep_records_skips(tmp_path):
    suite = Suite.from_dict({
        "name": "prune", "seeds": [0], "prune": True,
        "defaults": {"d_model": 8, "steps": 5, "eval_every": 5, "batch_size": 4, "val_batches": 1,
                     "test_batches": 1},
        "learners": [{"name": "cnn", "options": {"kernel_size": 2}}],
        "tasks": [{"name": "lag", "distances": [16, 32, 64]}]}, where="test")
    result = run_suite(suite, tmp_path, InProcessExecutor(), "test")
    outcomes = [r.outcome for r in sorted(result.records, key=lambda r: r.spec["distance"])]
    assert outcomes == ["unsolved", "skipped", "skipped"]
    assert result.counts == {"unsolved": 1, "skipped": 2}


def test_process_pool_and_in_process_give_the_same_numbers(tmp_path):
    specs = [RunSpec(task=t, distance=4, learner=lrn, d_model=16, steps=25, eval_every=25, batch_size=8,
                     test_batches=2) for t, lrn in (("lag", "lstm"), ("copy", "transformer"), ("adding", "tcn"))]
    local = [InProcessExecutor().submit(s).result() for s in specs]
    pool = ProcessPoolExecutor(workers=2)
    try:
        remote = [f.result() for f in [pool.submit(s) for s in specs]]
    finally:
        pool.shutdown()
    for a, b in zip(local, remote):
        assert a.outcome == b.outcome and a.error is None
        assert a.test_accuracy == b.test_accuracy and a.test_loss == b.test_loss
        assert a.curve[-1]["train_loss"] == b.curve[-1]["train_loss"]


def test_a_run_that_raises_is_recorded_and_the_sweep_goes_on(tmp_path):
    suite = Suite.from_dict({
        "name": "errors", "seeds": [0], "prune": True,
        "defaults": {"d_model": 8, "steps": 5, "eval_every": 5, "batch_size": 4, "val_batches": 1,
                     "test_batches": 1},
        "learners": [{"name": "tests.helpers.broken:Exploding"}, {"name": "tcn"}],
        "tasks": [{"name": "lag", "distances": [4, 8]}]}, where="test")
    result = run_suite(suite, tmp_path, InProcessExecutor(), "test")
    by_learner = {}
    for r in result.records:
        by_learner.setdefault(r.spec["learner"], []).append(r.outcome)
    assert by_learner["tests.helpers.broken:Exploding"] == ["error", "skipped"]
    assert "boom" in next(r.error for r in result.records if r.outcome == "error")
    tcn = next(r for r in result.records if r.spec["learner"] == "tcn" and r.distance == 4)
    assert tcn.test_accuracy == train(RunSpec.from_dict(tcn.spec)).test_accuracy  # the other learner still ran


def test_rerunning_the_same_command_without_out_resumes_the_interrupted_folder(tmp_path):
    suite_file = tmp_path / "tiny.toml"
    suite_file.write_text(SUITE)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(ROOT / "run.py"), "--suite", str(suite_file), "--workers", "2", "--no-report"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline:
        runs = list((tmp_path / "results").glob("tiny-*/runs.jsonl"))
        if runs and len(runs[0].read_text().splitlines()) >= 2:
            break
        if proc.poll() is not None:
            pytest.fail(f"sweep ended before it could be killed: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resuming:" in again.stdout
    folders = list((tmp_path / "results").glob("tiny-*"))
    assert len(folders) == 1 and len(read_runs(folders[0])) == 12
    # finished now: the next identical command starts a new sweep in a new folder
    time.sleep(1.1)  # folder names carry the time to the second
    third = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert third.returncode == 0 and "resuming:" not in third.stdout
    assert len(list((tmp_path / "results").glob("tiny-*"))) == 2


def start_and_find_workers(tmp_path, steps=3000):
    suite_file = tmp_path / "tiny.toml"
    suite_file.write_text(SUITE.replace("steps = 60", f"steps = {steps}"))  # long runs: stopped mid-run
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(sweep_cmd(suite_file, tmp_path / "out"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 120
    workers: list[int] = []
    while time.time() < deadline and len(workers) < 2:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        workers = [int(p) for p in children.read_text().split()] if children.exists() else []
        workers = [w for w in workers if "spawn_main" in Path(f"/proc/{w}/cmdline").read_text(errors="ignore")]
        time.sleep(0.1)
    assert len(workers) == 2, "the pool did not start"
    time.sleep(3)  # the workers are inside their first runs
    return proc, workers


def alive(pids):
    return [p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in
            Path(f"/proc/{p}/stat").read_text().split(")")[-1].split()[:1]]


def test_sigterm_stops_the_sweep_and_its_workers(tmp_path):
    proc, workers = start_and_find_workers(tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    assert "Traceback" not in proc.stderr.read().decode()
    time.sleep(0.5)
    assert not alive(workers), "workers outlived the sweep"


def test_workers_exit_when_the_driver_is_killed_outright(tmp_path):
    proc, workers = start_and_find_workers(tmp_path)
    proc.kill()  # SIGKILL to the driver alone: no handler runs
    proc.wait()
    deadline = time.time() + 10
    while alive(workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not alive(workers), "orphaned workers kept running"
