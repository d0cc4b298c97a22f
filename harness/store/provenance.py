"""Provenance: versions, hardware, threads and the git commit, recorded with every results folder and every
probe figure, and the one timestamp format."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout that holds harness/, learners/, tasks/


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=REPO_ROOT)
        commit = out.stdout.strip() or None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=REPO_ROOT).stdout.strip()
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
        # the instruction set torch's CPU kernels were dispatched for (AVX2, AVX512, ...): with the CPU, the torch
        # build and the threads, what decides the bits of a result; compare reads all four
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "torch_threads_per_run": threads if threads is not None else torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "git_commit": git_commit(),
    }
    return env
