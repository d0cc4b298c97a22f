"""Training-step time of the linear-recurrent learners beside gru and the transformer (not a test; run it).

One step = embedding -> learner -> linear head, cross-entropy, backward, AdamW step, at the main study's
shape (d_model 64, 2 layers, batch 32), on one torch thread. Learners are timed in interleaved rounds (one
step of each, round after round) so that load from other processes falls on all of them alike; the table
gives the median over rounds, in milliseconds of this process's CPU time (``--clock cpu``, the default: time
spent waiting for a core shared with other jobs is left out) or of wall-clock time (``--clock wall``).

    python tests/benchmarks/linear_recurrent_speed.py                       # the table of the issue
    python tests/benchmarks/linear_recurrent_speed.py --lengths 256 --rounds 9 --learners lru mamba \\
        --options mamba:chunk=32                                            # one configuration against another
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from learners import LEARNERS  # noqa: E402

VOCAB = 16


def train_step(name: str, n: int, batch: int = 32, d_model: int = 64, n_layers: int = 2,
               seed: int = 0, device: str = "cpu", **options) -> Callable[[], None]:
    """A closure running one training step of learner ``name`` at length n (random tokens and targets); on a
    GPU it waits for the step to finish, so that it can be timed."""
    torch.manual_seed(seed)
    learner = LEARNERS[name](d_model=d_model, n_layers=n_layers, max_len=max(n, 1024), **options).to(device)
    embed, head = torch.nn.Embedding(VOCAB, d_model).to(device), torch.nn.Linear(d_model, VOCAB).to(device)
    params = [*learner.parameters(), *embed.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    x, y = (torch.randint(VOCAB, (batch, n), generator=g).to(device) for _ in range(2))

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(head(learner(embed(x))).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device != "cpu":
            torch.cuda.synchronize()

    return step


def median_ms(steps: dict[str, Callable[[], None]], rounds: int, clock: str = "cpu") -> dict[str, float]:
    """Median milliseconds per step of each closure, timed in interleaved rounds after one warm-up step each;
    ``clock`` "cpu" (process CPU time) or "wall"."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    times: dict[str, list[float]] = {key: [] for key in steps}
    for step in steps.values():
        step()
    for _ in range(rounds):
        for key, step in steps.items():
            t0 = now()
            step()
            times[key].append(1e3 * (now() - t0))
    return {key: statistics.median(ts) for key, ts in times.items()}


def parse_options(items: list[str]) -> dict[str, dict]:
    """['mamba:chunk=32', ...] -> {'mamba': {'chunk': 32}}; values are read as int, float or left as text."""
    out: dict[str, dict] = {}
    for item in items:
        name, _, assignment = item.partition(":")
        key, _, value = assignment.partition("=")
        for cast in (int, float, str):
            try:
                out.setdefault(name, {})[key] = cast(value)
                break
            except ValueError:
                continue
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", nargs="+", default=["lru", "mamba", "gru", "transformer"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[64, 128, 256])
    parser.add_argument("--long", nargs="*", default=["lru", "mamba"], help="learners also timed at --long-length")
    parser.add_argument("--long-length", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--options", nargs="*", default=[], help="learner:key=value, e.g. mamba:chunk=32")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (then the clock is wall)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    options = parse_options(args.options)
    if args.device != "cpu":
        args.clock = "wall"
    print(f"median {args.clock} ms per training step on {args.device} (d_model 64, 2 layers, batch {args.batch}, "
          f"1 thread, {args.rounds} interleaved rounds), torch {torch.__version__}")
    print("| learner | " + " | ".join(f"n={n}" for n in args.lengths) + f" | n={args.long_length} |")
    print("|---|" + "---|" * (len(args.lengths) + 1))
    results: dict[tuple[str, int], float] = {}
    for n in [*args.lengths, args.long_length]:
        names = args.learners if n in args.lengths else [m for m in args.learners if m in args.long]
        steps = {m: train_step(m, n, args.batch, device=args.device, **options.get(m, {})) for m in names}
        results.update({(m, n): ms for m, ms in median_ms(steps, args.rounds, args.clock).items()})
    for m in args.learners:
        cells = [f"{results[(m, n)]:.0f}" if (m, n) in results else "" for n in [*args.lengths, args.long_length]]
        print(f"| {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
