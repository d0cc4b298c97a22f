"""The results folder: a lock, an append-only ``runs.jsonl``, ``env.json``, the resolved suite, tables.

Layout of ``results/<suite>-<timestamp>/`` (or ``--out DIR``):

- ``suite.toml``   the resolved suite (re-running it reproduces the sweep)
- ``runs.jsonl``   one finished run per line, appended, flushed and fsynced: the source of truth
- ``runs.parquet`` / ``runs.csv``  a flat table for pandas, rebuilt from runs.jsonl
- ``env.json``     versions, hardware, threads, git commit, and one entry per session (command line,
                   start and end time), so a resumed sweep keeps the history of how it was produced
- ``probes/``      probe outputs; figures and ``report.html`` sit beside them

A run cut off half-way never reaches runs.jsonl, so re-running the same command re-runs it. A torn last
line (a kill during the write) is moved to ``runs.jsonl.torn`` and dropped; any other unreadable line is a
corrupt folder and is reported, never rewritten.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from harness.errors import ReachError

RUNS = "runs.jsonl"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")


def read_runs(folder: Path) -> list[dict[str, Any]]:
    """All complete records of ``folder/runs.jsonl``, later records of the same id replacing earlier ones."""
    path = Path(folder) / RUNS
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    records: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "id" not in record:
                raise ValueError("not a run record")
        except ValueError:
            if number == len(lines) and not data.endswith(b"\n"):
                continue  # torn tail of an interrupted write: not a finished run
            raise ReachError(f"{path} line {number} is corrupt (not a run record); move the folder aside "
                             f"or pass another --out") from None
        records[record["id"]] = record
    return list(records.values())


class ResultsFolder:
    """An exclusive handle on a results folder. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_file = None

    def __enter__(self) -> ResultsFolder:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise ReachError(f"results folder {self.path} is not writable ({exc.strerror}); "
                             f"choose another with --out") from None
        lock_path = self.path / ".lock"
        self._lock_file = open(lock_path, "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.seek(0)
            holder = self._lock_file.read().strip() or "another process"
            self._lock_file.close()
            self._lock_file = None
            raise ReachError(f"results folder {self.path} is in use by {holder}; wait for that sweep to end "
                             f"or pass another --out") from None
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(f"pid {os.getpid()} since {now_iso()}")
        self._lock_file.flush()
        self.existing = read_runs(self.path)  # validates the log before anything is appended
        self._repair_torn_tail()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _repair_torn_tail(self) -> None:
        path = self.path / RUNS
        if not path.exists():
            return
        data = path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        with open(self.path / (RUNS + ".torn"), "ab") as torn:
            torn.write(data[cut:] + b"\n")
        with open(path, "r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())

    def append(self, record: dict[str, Any]) -> None:
        """Append one record as one line; flushed and fsynced before returning."""
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        with open(self.path / RUNS, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def write_text(self, name: str, text: str) -> Path:
        """Write a file of this folder atomically (see write_atomic)."""
        return write_atomic(self.path / name, text)


def write_atomic(target: Path, text: str) -> Path:
    """Write a file atomically (temp file + rename), so a kill never leaves half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return target


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent.parent)
        commit = out.stdout.strip() or None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=Path(__file__).resolve().parent.parent).stdout.strip()
        return f"{commit}{'+dirty' if dirty else ''}" if commit else None
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(threads: int | None = None) -> dict[str, Any]:
    """Versions, hardware and threads: recorded with every results folder and every probe figure."""
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for dist in ("numpy", "pandas", "seaborn", "matplotlib", "rich", "jinja2", "ray"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    env = {
        "versions": versions,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads_per_run": threads if threads is not None else torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "git_commit": git_commit(),
    }
    return env
