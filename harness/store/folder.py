"""The results folder: a lock, an append-only ``runs.jsonl``, ``env.json``, the resolved suite, tables.

Layout of ``results/<suite>-<timestamp>/`` (or ``--out DIR``):

- ``suite.toml``   the resolved suite (re-running it reproduces the sweep)
- ``runs.jsonl``   one finished run per line, appended, flushed and fsynced: the source of truth
- ``runs.parquet`` / ``runs.csv``  a flat table for pandas, rebuilt from runs.jsonl
- ``env.json``     versions, hardware, threads, git commit, and one entry per session (command line,
                   start and end time), so a resumed sweep keeps the history of how it was produced
- ``probes/``      probe outputs; figures and ``report.html`` sit beside them
- ``checkpoints/`` ``<run id>.pt``: the last state of each unsolved run, which budget escalation continues
                   (harness.run.escalation); written before the run's record, so a record implies its state

A run cut off half-way never reaches runs.jsonl, so re-running the same command re-runs it. A torn last
line (a kill during the write) is moved to ``runs.jsonl.torn`` and dropped; any other unreadable line is a
corrupt folder and is reported, never rewritten.

Folder names: ``results/<suite>-<timestamp>`` for a new sweep (``default_out``); re-running the same command
without ``--out`` resumes the newest folder of the same suite whose last session never ended
(``interrupted_out``).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from pathlib import Path
from typing import Any

from harness.errors import ReachError
from harness.store.provenance import now_iso
from harness.store.record import RunRecord

RUNS = "runs.jsonl"
CHECKPOINTS = "checkpoints"


def read_runs(folder: Path) -> list[RunRecord]:
    """All complete records of ``folder/runs.jsonl``, later records of the same id replacing earlier ones."""
    path = Path(folder) / RUNS
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    records: dict[str, RunRecord] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = RunRecord.from_json(json.loads(line))
        except ValueError:
            if number == len(lines) and not data.endswith(b"\n"):
                continue  # torn tail of an interrupted write: not a finished run
            raise ReachError(f"{path} line {number} is corrupt (not a run record); move the folder aside "
                             f"or pass another --out") from None
        records[record.id] = record
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

    def append(self, record: RunRecord) -> None:
        """Append one record as one line; flushed and fsynced before returning."""
        line = json.dumps(record.to_json(), separators=(",", ":"), default=str) + "\n"
        with open(self.path / RUNS, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def save_checkpoint(self, run_id: str, data: bytes) -> Path:
        """Keep a run's last state (``RunRecord.checkpoint``) as ``checkpoints/<run_id>.pt``, atomically."""
        target = self.path / CHECKPOINTS / f"{run_id}.pt"
        target.parent.mkdir(exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        return target

    def checkpoint(self, run_id: str) -> bytes | None:
        """The kept last state of run ``run_id``, or None when none was kept."""
        path = self.path / CHECKPOINTS / f"{run_id}.pt"
        return path.read_bytes() if path.exists() else None

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


def folder_prefix(suite: Any) -> str:
    """The suite's name as a file-system-safe prefix of its results folders."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in suite.name)


def default_out(suite: Any, root: Path = Path("results")) -> Path:
    """results/<suite>-<timestamp>: a new folder for a new sweep."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = folder_prefix(suite)
    return root / f"{safe}-{stamp}"


def interrupted_out(suite: Any, root: Path = Path("results")) -> Path | None:
    """The newest results folder of this very suite whose last session never ended (killed, interrupted),
    so that re-running the same command without --out resumes it. None when there is none."""
    safe = folder_prefix(suite)
    wanted = suite.to_toml()
    for folder in sorted(root.glob(f"{safe}-*"), reverse=True):
        try:
            sessions = json.loads((folder / "env.json").read_text()).get("sessions", [])
            same = (folder / "suite.toml").read_text(encoding="utf-8") == wanted
        except (OSError, ValueError):
            continue
        if same and sessions and sessions[-1].get("end") is None:
            return folder
    return None
