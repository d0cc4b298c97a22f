"""Checks of the linear-recurrent learners on a GPU (not a test; run it where CUDA is available).

    python tests/benchmarks/linear_recurrent_device_check.py

1. lru and mamba in float64 on CUDA: the chunked scan equals the sequential reference (outputs and gradients,
   1e-6) and the CPU's result; every tensor they make stays on the input's device.
2. The float32 scan on CUDA at n = 4096 against the float64 reference, |a| = 0.999 and 0.5.
Prints one line per check and exits non-zero at the first failure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from learners import LEARNERS  # noqa: E402
from learners.scan import parallel_scan, sequential_scan  # noqa: E402


def outputs_and_grads(name: str, device: str, scan: str, n: int = 37) -> list[torch.Tensor]:
    torch.manual_seed(0)
    m = LEARNERS[name](16, 2, chunk=8).double().to(device)
    m.scan = scan
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, n, 16, dtype=torch.float64, generator=g).to(device).requires_grad_()
    w = torch.randn(3, n, 16, dtype=torch.float64, generator=g).to(device)
    y = m(x)
    grads = torch.autograd.grad((y * w).sum(), [x, *m.parameters()], allow_unused=True)
    return [y.cpu()] + [torch.zeros(0) if t is None else t.cpu() for t in grads]


def main() -> None:
    assert torch.cuda.is_available(), "no CUDA device"
    print(torch.__version__, torch.cuda.get_device_name())
    for name in ("lru", "mamba"):
        gpu, ref, cpu = (outputs_and_grads(name, d, s) for d, s in
                         (("cuda", "parallel"), ("cuda", "sequential"), ("cpu", "parallel")))
        for other, what in ((ref, "sequential on cuda"), (cpu, "parallel on cpu")):
            err = max((a - b).abs().max().item() for a, b in zip(gpu, other) if a.numel())
            print(f"{name}: parallel on cuda vs {what}: max |difference| {err:.1e}")
            assert err <= 1e-6, name
    for modulus in (0.999, 0.5):
        g = torch.Generator().manual_seed(0)
        b = torch.randn(2, 4096, 8, dtype=torch.float64, generator=g)
        a = torch.full((2, 4096, 8), modulus, dtype=torch.float64)
        exact = sequential_scan(a, b)
        h = parallel_scan(a.float().cuda(), b.float().cuda()).double().cpu()
        err = ((h - exact).abs().max() / exact.abs().max()).item()
        print(f"fp32 scan on cuda, n = 4096, |a| = {modulus}: max error / max |h| = {err:.1e}")
        assert err <= 5e-5
    print("all device checks passed")


if __name__ == "__main__":
    main()
