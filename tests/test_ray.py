"""The Ray executor on a real local Ray instance (127.0.0.1, 2 CPUs, no dashboard): the same numbers as the
process pool, a worker killed mid-run retried (or recorded as an error when retries are used up), threads
following the CPUs granted, the command line end to end leaving no Ray process behind, and one clear line
when Ray is missing.

Without Ray installed the Ray tests are skipped, unless REACH_REQUIRE_RAY=1 (CI), where they fail.
"""

import copy
import ipaddress
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from harness.config.builtin import BUILTIN_SUITES
from harness.config.spec import RunSpec
from harness.config.suites import Suite
from harness.errors import ReachError
from harness.run.executors import ProcessPoolExecutor, make_executor
from harness.run.sweep import run_suite
from harness.store.folder import read_runs

ROOT = Path(__file__).resolve().parent.parent
KILLER = "tests.helpers.killer:KillsWorkerOnce"
TINY = {"d_model": 16, "steps": 30, "eval_every": 10, "batch_size": 8, "val_batches": 1, "test_batches": 2}

def require_ray():
    try:
        import ray  # noqa: F401
    except ImportError:
        reason = "Ray is not installed (pip install -r requirements-ray.txt)"
        if os.environ.get("REACH_REQUIRE_RAY") == "1":
            pytest.fail(f"Ray tests required (REACH_REQUIRE_RAY=1) but {reason}")
        pytest.skip(reason)


def small_smoke() -> Suite:
    """The smoke suite cut to one learner per family on lag 4 and 16 with a short budget: 6 runs."""
    data = copy.deepcopy(BUILTIN_SUITES["smoke"])
    data["learners"] = [e for e in data["learners"] if e["name"] in ("lstm", "tcn", "transformer")]
    data["tasks"] = [{"name": "lag", "distances": [4, 16]}]
    data["defaults"].update(steps=40, eval_every=20)
    return Suite.from_dict(data, where="ray test suite")


def numbers(record):
    """What must agree between executors: every computed number, not the timings."""
    curve = [{k: v for k, v in point.items() if k != "seconds"} for point in record.curve]
    return (record.outcome, record.test_accuracy, record.test_loss, record.test_by_distance,
            record.steps_run, record.threads, curve)


@pytest.fixture(scope="class")
def ray_executor():
    """A local Ray instance (127.0.0.1, 2 CPUs, no dashboard) started by a RayExecutor as `run.py` starts it;
    stopped after the class's tests, failed or not."""
    require_ray()
    import ray

    from harness.run.ray_executor import RayExecutor

    executor = RayExecutor(workers=2, retries=2)
    try:
        yield executor
    finally:  # even when a test failed: no Ray left running
        executor.shutdown()
        if ray.is_initialized():
            ray.shutdown()


@pytest.mark.slow
@pytest.mark.ray
class TestLocalRay:
    """Every test here shares one local Ray instance (the class-scoped fixture `ray_executor`)."""

    def test_local_instance_is_loopback_with_two_cpus(self, ray_executor):
        import ray

        nodes = [n for n in ray.nodes() if n["Alive"]]
        assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"]
        assert ray.cluster_resources()["CPU"] == 2
        assert ray_executor.name == "ray" and ray_executor.workers == 2
        if Path("/proc/net/tcp").exists():  # every port Ray opened listens on loopback only
            addresses = listening_addresses(os.getpid())
            assert addresses, "found no listening socket of the Ray processes"
            assert addresses <= {"127.0.0.1", "::1"}, addresses

    def test_same_numbers_as_the_process_pool(self, ray_executor, tmp_path):
        suite = small_smoke()
        on_ray = run_suite(suite, tmp_path / "ray", ray_executor, "pytest ray")
        pool = ProcessPoolExecutor(workers=2)
        try:
            on_pool = run_suite(suite, tmp_path / "pool", pool, "pytest pool")
        finally:
            pool.shutdown()
        ray_runs = {r.id: r for r in read_runs(tmp_path / "ray")}
        pool_runs = {r.id: r for r in read_runs(tmp_path / "pool")}
        assert set(ray_runs) == set(pool_runs) == {s.id for s in suite.specs()}
        assert on_ray.counts == on_pool.counts
        assert all(r.outcome != "error" for r in ray_runs.values()), [r.error for r in ray_runs.values()]
        for run_id, record in ray_runs.items():
            assert numbers(record) == numbers(pool_runs[run_id]), record.label
        session = json.loads((tmp_path / "ray" / "env.json").read_text())["sessions"][-1]
        assert session["executor"] == "ray" and session["workers"] == 2

    def test_killed_worker_is_retried(self, ray_executor, tmp_path):
        marker = tmp_path / "killed-once"
        spec = RunSpec(task="lag", distance=4, learner=KILLER, seed=0, **TINY,
                       learner_options={"marker": str(marker), "driver_pid": os.getpid()})
        record = ray_executor.submit(spec).result(timeout=120)
        assert record.outcome in ("solved", "unsolved"), record.error
        assert record.id == spec.id and record.steps_run == spec.steps
        killed_pid = int(marker.read_text())  # the first attempt's worker wrote it, then SIGKILLed itself
        assert killed_pid != os.getpid()
        with pytest.raises(ProcessLookupError):
            os.kill(killed_pid, 0)

    def test_worker_death_without_retries_is_recorded_and_the_sweep_completes(self, ray_executor, tmp_path):
        from harness.run.ray_executor import RayExecutor

        no_retries = RayExecutor(workers=2, retries=0)  # shares the running instance, leaves it running
        suite = Suite.from_dict({
            "name": "dies", "prune": False, "defaults": TINY,
            "learners": [{"name": KILLER, "options": {"marker": str(tmp_path / "m"), "driver_pid": os.getpid()}},
                         {"name": "tcn"}],
            "tasks": [{"name": "lag", "distances": [4]}],
        }, where="ray test")
        result = run_suite(suite, tmp_path / "out", no_retries, "pytest ray retries=0")
        no_retries.shutdown()
        import ray

        assert ray.is_initialized()  # the executor did not start this Ray, so it did not stop it
        by_learner = {r.spec["learner"]: r for r in read_runs(tmp_path / "out")}
        assert set(by_learner) == {KILLER, "tcn"}
        lost = by_learner[KILLER]
        assert lost.outcome == "error"
        assert "worker" in lost.error and "died" in lost.error and "WorkerCrashedError" in lost.error
        assert "no retries" in lost.error
        assert by_learner["tcn"].outcome in ("solved", "unsolved")
        assert result.counts["error"] == 1

    def test_threads_follow_the_cpus_granted(self, ray_executor):
        from harness.run.ray_executor import RayExecutor

        two_cpus = RayExecutor(workers=1, cpus_per_run=2)
        spec = RunSpec(task="lag", distance=4, learner="tcn", seed=0, **TINY)
        record = two_cpus.submit(spec).result(timeout=120)
        two_cpus.shutdown()
        assert record.threads == 2 and record.spec["threads"] == 2
        assert record.id == spec.id  # threads are an execution detail: the run keeps its id
        one_cpu = ray_executor.submit(spec).result(timeout=120)
        assert one_cpu.threads == 1

    def test_a_worker_that_cannot_import_reach_says_so(self, ray_executor):
        import ray.exceptions

        # what Ray raises when a node lacks reach's code (seen with a module only the driver could import)
        lost = ray.exceptions.RayTaskError("run_task", "traceback", RuntimeError(
            "The remote function failed to import on the worker. This may be because needed library dependencies "
            "are not installed in the worker environment or cannot be found from sys.path ['/']:"))
        spec = RunSpec(task="lag", distance=4, learner="tcn", **TINY)
        record = ray_executor._lost_record(spec, lost)
        assert record.outcome == "error" and record.id == spec.id
        assert "could not import reach's code" in record.error and "same path on every node" in record.error

    def test_gpus_for_a_cpu_run_are_refused(self, ray_executor):
        from harness.run.ray_executor import RayExecutor

        gpu = RayExecutor(workers=1, gpus_per_run=1)
        with pytest.raises(ReachError, match="device"):
            gpu.submit(RunSpec(task="lag", distance=4, learner="tcn", **TINY))
        gpu.shutdown()


def descendants(root: int) -> set[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def listening_addresses(root: int) -> set[str]:
    """The local IP addresses of the TCP sockets that ``root`` and its descendants listen on (from /proc)."""
    inodes = set()
    for pid in descendants(root):
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        inodes.update(link[8:-1] for link in links if link.startswith("socket:["))
    addresses = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(cols[1].split(":")[0])
            # /proc prints each 32-bit word of the address in host (little-endian) order
            words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            ip = ipaddress.ip_address(words)
            if ip.version == 6 and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            addresses.add(str(ip))
    return addresses


def ray_processes(tag: str) -> list[int]:
    """PIDs of live processes whose environment carries ``tag``: exactly the ones one command started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if tag.encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find leftover processes")
def test_command_line_on_local_ray_leaves_no_process(tmp_path):
    require_ray()
    suite = tmp_path / "tiny.toml"
    suite.write_text('name = "tiny"\nprune = false\n[defaults]\n' + "".join(f"{k} = {v}\n" for k, v in TINY.items())
                     + '[[learners]]\nname = "tcn"\n[[learners]]\nname = "gru"\n'
                     + '[[tasks]]\nname = "lag"\ndistances = [4, 8]\n')
    tag = f"reach-ray-test-{uuid.uuid4().hex}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REACH_RAY_TEST_TAG": tag}
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--suite", str(suite), "--executor", "ray",
                           "--workers", "2", "--out", str(tmp_path / "out"), "--no-report"],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "(ray, 2 worker(s))" in proc.stdout
    records = read_runs(tmp_path / "out")
    assert len(records) == 4 and all(r.outcome in ("solved", "unsolved") for r in records)
    deadline = time.time() + 20  # Ray's processes exit right after the driver; give a loaded machine a moment
    while ray_processes(tag) and time.time() < deadline:
        time.sleep(0.2)
    assert ray_processes(tag) == [], "Ray processes outlived the command"


@pytest.mark.ray
def test_cluster_address_nobody_answers_is_one_line(tmp_path):
    require_ray()
    suite = tmp_path / "tiny.toml"
    suite.write_text('name = "tiny"\n[[learners]]\nname = "tcn"\n[[tasks]]\nname = "lag"\ndistances = [4]\n')
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--suite", str(suite), "--executor", "ray",
                           "--address", "127.0.0.1:1", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "127.0.0.1:1" in proc.stderr and "ray start --head" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.ray
@pytest.mark.parametrize("kwargs,needle", [
    ({"cpus_per_run": 0}, "--cpus-per-run"),
    ({"gpus_per_run": -1}, "--gpus-per-run"),
    ({"retries": -1}, "--retries"),
    ({"address": "no-port"}, "HOST:PORT"),
])
def test_bad_ray_settings_are_refused_before_ray_starts(kwargs, needle):
    require_ray()
    import ray

    with pytest.raises(ReachError, match=needle):
        make_executor("ray", 2, **kwargs)
    assert not ray.is_initialized()


def test_missing_ray_is_one_line_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when Ray is not installed
    with pytest.raises(ReachError) as info:
        make_executor("ray", 2, address=None, cpus_per_run=1.0, gpus_per_run=0.0, retries=2)
    assert str(info.value) == "--executor ray needs Ray: pip install -r requirements-ray.txt"


def test_missing_ray_on_the_command_line_exits_2(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text('name = "tiny"\n[[learners]]\nname = "tcn"\n[[tasks]]\nname = "lag"\ndistances = [4]\n')
    code = ("import sys; sys.modules['ray'] = None; from harness.cli import main; "
            f"sys.exit(main(['--suite', {str(suite)!r}, '--executor', 'ray', '--out', {str(tmp_path / 'o')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == ["reach: error: --executor ray needs Ray: pip install -r "
                                                "requirements-ray.txt"]
