"""The GPU path (run by ``python run.py gpu-check``; skipped on a machine without CUDA unless REACH_REQUIRE_CUDA=1,
which makes a missing GPU a failure): every learner runs on CUDA and agrees with the CPU, batches are made on the
training device, a run trains there, the scans agree with their sequential reference, the probes time on CUDA."""

import os

import pytest
import torch

from harness.config.spec import RunSpec, make_task
from harness.measure.probe_learners import ProbeLearner
from harness.measure.throughput import measure_throughput
from harness.run.train import generator, train
from learners import LEARNERS
from learners.scan import parallel_scan, sequential_scan

pytestmark = pytest.mark.cuda
if not torch.cuda.is_available():
    if os.environ.get("REACH_REQUIRE_CUDA") == "1":
        pytest.fail("CUDA tests required (REACH_REQUIRE_CUDA=1) but torch sees no CUDA device", pytrace=False)
    pytestmark = [pytest.mark.cuda, pytest.mark.skip(reason="no CUDA device on this machine")]


@pytest.mark.parametrize("name", LEARNERS)
def test_learner_on_cuda_matches_cpu(name):
    torch.manual_seed(0)  # train mode (no dropout by default): cuDNN's RNN backward runs in training mode only
    cpu = LEARNERS[name](d_model=16, n_layers=2, max_len=64).double().train()
    gpu = LEARNERS[name](d_model=16, n_layers=2, max_len=64).double().train()
    gpu.load_state_dict(cpu.state_dict())
    gpu = gpu.cuda()
    x = torch.randn(3, 40, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    xc, xg = x.clone().requires_grad_(), x.cuda().requires_grad_()
    yc, yg = cpu(xc), gpu(xg)
    assert yg.device.type == "cuda"
    torch.testing.assert_close(yg.cpu(), yc, rtol=1e-7, atol=1e-9)
    yc.square().sum().backward()
    yg.square().sum().backward()
    torch.testing.assert_close(xg.grad.cpu(), xc.grad, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("task", ["hold", "recall", "selective-copy", "copy", "lag", "adding", "induction"])
def test_batches_are_made_on_the_training_device(task):
    t = make_task(task, 16, {})
    batch = t.sample(4, generator(0, 1, "cuda"))
    assert all(getattr(batch, f).device.type == "cuda" for f in ("inputs", "targets", "mask", "distance"))


def test_a_run_trains_on_the_gpu():
    r = train(RunSpec(task="hold", distance=8, learner="transformer", d_model=16, steps=20, eval_every=10,
                      batch_size=8, device="cuda"))
    assert r.device.startswith("cuda") and r.steps_run > 0 and r.test_accuracy is not None


@pytest.mark.parametrize("complex_", [False, True])
def test_parallel_scan_on_cuda_matches_the_sequential_reference(complex_):
    g = torch.Generator().manual_seed(0)
    dtype = torch.complex128 if complex_ else torch.float64
    a = (torch.rand(2, 300, 8, generator=g, dtype=torch.float64) * 0.5 + 0.5).to(dtype)
    b = torch.randn(2, 300, 8, generator=g, dtype=torch.float64).to(dtype)
    ref = sequential_scan(a, b)
    torch.testing.assert_close(parallel_scan(a.cuda(), b.cuda()).cpu(), ref, rtol=1e-9, atol=1e-9)


def test_probes_time_on_cuda():
    pl = ProbeLearner("gru", "gru", {}, 16, 2, {"name": "gru"})
    frame = measure_throughput([pl], {"lengths": [8, 16], "tokens": 64, "repeats": 2, "devices": ["cuda"]},
                               log=lambda m: None)
    assert set(frame.device) == {"cuda"} and (frame.median_s > 0).all()
