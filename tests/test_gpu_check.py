"""``run.py gpu-check`` rehearsed on the CPU (``device="cpu"``): every step it takes on a GPU runs here too and
lands in gpu-check.md, so the command that spends scarce GPU time is not first run on the GPU."""

import pytest

import harness.gpu_check as gc
from harness.config.builtin import BUILTIN_SUITES
from harness.errors import ReachError
from harness.gpu_check import gpu_check

pytestmark = pytest.mark.slow


def test_gpu_check_rehearsed_on_cpu(tmp_path, monkeypatch):
    tiny = {**BUILTIN_SUITES["smoke"], "name": "tiny", "learners": [{"name": "gru"}, {"name": "lru"}],
            "tasks": [{"name": "hold", "distances": [4]}]}
    tiny["defaults"] = {**tiny["defaults"], "steps": 4, "eval_every": 2}
    monkeypatch.setitem(BUILTIN_SUITES, "tiny", tiny)
    monkeypatch.setitem(gc.TABLE1_PROBES, "throughput",
                        {"lengths": [8, 16], "tokens": 32, "warmup": 0, "repeats": 1, "threads": 1})
    monkeypatch.setitem(gc.TABLE1_PROBES, "gradient",
                        {"length": 16, "batch": 1, "projections": 2, "train_steps": 2, "distance": 4})
    monkeypatch.setitem(gc.TABLE1_PROBES, "flops",
                        {"lengths": [8, 16], "widths": [8, 16], "length_at": 8})
    assert gpu_check(tmp_path, "tiny", workers=1, steps=3, device="cpu") == 0
    text = (tmp_path / "gpu-check.md").read_text()
    assert "## Every learner on cpu" in text and "| gru |" in text and "| lru |" in text
    assert "## Table 1 probes on CPU and GPU" in text
    assert "## tiny on cpu" in text and (tmp_path / "tiny" / "report.html").exists()


def test_gpu_check_needs_cuda(tmp_path, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ReachError, match="needs a CUDA device"):
        gpu_check(tmp_path)
