"""The one training loop: AdamW, warm-up then cosine or constant learning rate, clipping, validation-based
early stopping, final numbers on a separate test stream.

Streams. Every run draws from four generators whose seeds never overlap, for any pair of run seeds:
``stream_seed(seed, s) = 4 * seed + s`` with s = 0 (model initialisation), 1 (training batches),
2 (validation set) and 3 (test set). Early stopping sees only the validation set; the reported accuracy
is measured on the test stream, which nothing else reads.

Accuracy is token-level micro accuracy over the task's scored positions (for regression tasks: the
fraction of scored positions whose absolute error is below the task's tolerance). A run is *solved* when
its test accuracy reaches ``solve_threshold``; *steps to solve* is the first validation evaluation at which
the validation accuracy reached it (the whole budget when only the final test met it). Training stops early
once validation accuracy reaches ``stop_level`` (halfway from the threshold to 1), or at the step budget.

Continuing a run (budget escalation). An unsolved run hands back its last state (``RunRecord.checkpoint``: model,
optimiser, scheduler, the training stream's generator, the curve so far); a spec with ``continues`` set to that run's
id and a larger ``steps`` trains on from it (``train(spec, resume=...)``). Under the constant schedule nothing in a
step depends on the budget, so a continued run takes exactly the steps a fresh run of the larger budget would take:
the same numbers, at the cost of the extra steps only (tests/test_escalation.py checks it bit for bit). Without the
saved state, such a spec trains from step 0, to the same numbers.

What a trained run also records: ``flops_per_step``, the FLOPs of one training step (forward and backward of one
batch, counted by harness.run.flopcount at the run's length), and, for an unsolved run, ``gradient``: how much of
the trained model's gradient reaches back its own distance, G(d) / G(1) (``distance_gradient``).
"""

from __future__ import annotations

import copy
import io
import json
import math
import pickle
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from harness.config.spec import RunSpec
from harness.errors import ReachError
from harness.run.extrapolate import extrapolate
from harness.run.flopcount import count_flops
from harness.run.jacobian import gradient_profile
from harness.run.model import SequenceModel, build_model, count_parameters, solve_width
from harness.store.record import Outcome, RunRecord
from tasks import Batch, Task

MODEL_INIT, TRAIN, VALIDATION, TEST = range(4)
CHECKPOINT_FORMAT = 1
GRADIENT_BATCH, GRADIENT_PROJECTIONS = 4, 8  # distance_gradient: sequences and Gaussian projections (see there)


def stream_seed(seed: int, stream: int) -> int:
    return 4 * seed + stream


def generator(seed: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator of one stream of a run, on ``device``: tasks sample where their generator lives, so a run on a
    GPU makes its batches there (a CUDA generator draws other numbers than a CPU one for the same seed: results
    are reproducible per device, not across devices)."""
    return torch.Generator(device=device).manual_seed(stream_seed(seed, stream))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ReachError("--device cuda was asked for but torch sees no CUDA device; use --device cpu or auto")
    return torch.device(name)


def task_loss(task: Task, out: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy (nats) or squared error over the batch's loss positions."""
    m = batch.loss_mask
    if task.kind == "regression":
        return F.mse_loss(out[..., 0][m], batch.targets[m])
    return F.cross_entropy(out[m], batch.targets[m])


@dataclass
class Scores:
    """Sums over an evaluation pass; ``summary()`` turns them into rates."""

    correct: float = 0.0
    scored: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    exact: int = 0
    sequences: int = 0

    def __post_init__(self) -> None:
        self.by_distance: dict[int, list[int]] = {}

    def summary(self) -> dict[str, Any]:
        return {
            "accuracy": self.correct / max(self.scored, 1),
            "loss": self.loss_sum / max(self.loss_count, 1),
            "exact_match": self.exact / max(self.sequences, 1),
            "by_distance": {str(d): v for d, v in sorted(self.by_distance.items())},
        }


def evaluate(model: SequenceModel, task: Task, batches: list[Batch] | None = None, *,
             gen: torch.Generator | None = None, n_batches: int = 0, batch_size: int = 32,
             device: torch.device | None = None) -> dict[str, Any]:
    """Score ``model`` on the given batches (or on ``n_batches`` fresh ones drawn from ``gen``), in eval mode and
    without recording gradients; the model's training mode is restored afterwards. Returns :meth:`Scores.summary`.

    (``torch.no_grad`` is a ``with`` block rather than a decorator so that mutation testing reaches this function:
    mutmut leaves decorated functions alone.)
    """
    device = device or torch.device("cpu")
    was_training = model.training
    model.eval()
    s = Scores()
    todo = batches if batches is not None else (task.sample(batch_size, gen) for _ in range(n_batches))
    with torch.no_grad():
        for batch in todo:
            batch = batch.to(device)
            out = model(batch.inputs)
            m, lm = batch.mask, batch.loss_mask
            if task.kind == "regression":
                pred = out[..., 0]
                hit = (pred - batch.targets).abs() < task.tolerance
                s.loss_sum += float(((pred - batch.targets) ** 2)[lm].sum())
            else:
                hit = out.argmax(-1) == batch.targets
                s.loss_sum += float(F.cross_entropy(out[lm], batch.targets[lm], reduction="sum"))
            s.loss_count += int(lm.sum())
            s.correct += float(hit[m].sum())
            s.scored += int(m.sum())
            s.exact += int(((hit | ~m).all(dim=1) & m.any(dim=1)).sum())
            s.sequences += int(m.any(dim=1).sum())
            dist, ok = batch.distance[m].cpu(), hit[m].cpu()
            for d in torch.unique(dist).tolist():
                sel = dist == d
                entry = s.by_distance.setdefault(int(d), [0, 0])
                entry[0] += int(ok[sel].sum())
                entry[1] += int(sel.sum())
    model.train(was_training)
    return s.summary()


def load_of(task: Task) -> int | None:
    """The task's memory load, or None for a task that does not declare one (written before ``load`` existed)."""
    try:
        return int(task.load)
    except NotImplementedError:
        return None


def lr_factor(step: int, spec: RunSpec) -> float:
    """Multiplier of spec.lr at optimiser step ``step`` (0-based): linear warm-up, then cosine or constant."""
    if spec.warmup_steps and step < spec.warmup_steps:
        return (step + 1) / spec.warmup_steps
    if spec.schedule == "constant":
        return 1.0
    span = max(spec.steps - spec.warmup_steps, 1)
    progress = min((step - spec.warmup_steps) / span, 1.0)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))  # cosine down to 10% of lr


def stop_level(spec: RunSpec) -> float:
    """Validation accuracy at which training stops early: halfway from the threshold to 1 (0.995 for 0.99).

    Stopping the moment validation touches the threshold leaves a model whose true accuracy sits on the
    threshold, so about half of such runs then miss it on the test stream by noise alone.
    """
    return (1.0 + spec.solve_threshold) / 2


def train(spec: RunSpec, return_model: bool = False,
          resume: bytes | None = None) -> RunRecord | tuple[RunRecord, SequenceModel]:  # pragma: no mutate block
    """Run one spec to the end and return its result record, and the trained model too when
    ``return_model`` (probes measure gradients of trained models). ``resume``: the checkpoint of the run that
    ``spec.continues`` names (see the module docstring); training goes on from its last step.

    Outcomes: "solved", "unsolved", "diverged" (NaN/inf loss; recorded, not raised). Bad specs raise
    ReachError before anything trains; any other exception propagates to the caller (executors record it).
    """
    wall0 = time.perf_counter()
    torch.set_num_threads(spec.threads)
    device = resolve_device(spec.device)
    task = spec.task_obj
    d_model = spec.d_model
    if spec.param_budget is not None:
        d_model = solve_width(task, spec.learner, spec.n_layers, spec.learner_options, spec.param_budget)
    torch.manual_seed(stream_seed(spec.seed, MODEL_INIT))
    model = build_model(task, spec.learner, d_model, spec.n_layers, spec.learner_options).to(device)
    train_gen = generator(spec.seed, TRAIN, device)
    val_gen = generator(spec.seed, VALIDATION, device)
    val_set = [task.sample(spec.batch_size, val_gen).to(device) for _ in range(spec.val_batches)]
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, spec))

    curve: list[dict[str, Any]] = []
    outcome, steps_to_solve, resumed = Outcome.UNSOLVED, None, 0
    if resume is not None:
        state = load_checkpoint(resume, spec, device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        train_gen.set_state(state["train_generator"])
        torch.set_rng_state(state["torch_rng"])
        curve, steps_to_solve, resumed = list(state["curve"]), state["val_steps_to_threshold"], int(state["step"])
    steps_run, train_seconds, loss_window, stop_reason = resumed, 0.0, [], "step budget"
    model.train()
    for step in range(resumed + 1, spec.steps + 1):
        t0 = time.perf_counter()
        batch = task.sample(spec.batch_size, train_gen).to(device)
        loss = task_loss(task, model(batch.inputs), batch)
        loss_value = loss.item()  # the one host sync per step
        if not math.isfinite(loss_value):
            outcome, stop_reason = Outcome.DIVERGED, f"non-finite loss at step {step}"
            steps_run = step
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if spec.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        opt.step()
        sched.step()
        loss_window.append(loss_value)
        train_seconds += time.perf_counter() - t0
        steps_run = step
        if step % spec.eval_every == 0 or step == spec.steps:
            val = evaluate(model, task, val_set, device=device)
            curve.append({"step": step, "train_loss": sum(loss_window) / len(loss_window),
                          "val_accuracy": val["accuracy"], "val_loss": val["loss"],
                          "seconds": round(time.perf_counter() - wall0, 3)})
            loss_window = []
            if not math.isfinite(val["loss"]):
                outcome, stop_reason = Outcome.DIVERGED, f"non-finite validation loss at step {step}"
                break
            if steps_to_solve is None and val["accuracy"] >= spec.solve_threshold:
                steps_to_solve = step
            if val["accuracy"] >= stop_level(spec):
                stop_reason = f"validation accuracy reached {stop_level(spec):g}"
                break
        if spec.max_seconds is not None and time.perf_counter() - wall0 > spec.max_seconds:
            stop_reason = f"time budget of {spec.max_seconds} s"
            break
    if resumed and steps_run == resumed:
        stop_reason = f"nothing to continue: the run it continues had already taken {resumed} steps"
    elif resumed:
        stop_reason += f" (continued from step {resumed} of run {spec.continues})"
    elif spec.continues:
        stop_reason += f" (run {spec.continues}'s state was not kept: trained from step 0, the same numbers under " \
                       f"a constant schedule)"

    test = evaluate(model, task, gen=generator(spec.seed, TEST, device), n_batches=spec.test_batches,
                    batch_size=spec.batch_size, device=device)
    if outcome is not Outcome.DIVERGED:
        outcome = Outcome.SOLVED if test["accuracy"] >= spec.solve_threshold else Outcome.UNSOLVED
    checkpoint = gradient = None
    if outcome is Outcome.UNSOLVED:
        checkpoint = checkpoint_bytes(spec, model, opt, sched, train_gen, curve, steps_run, steps_to_solve)
        gradient = distance_gradient(model, task, spec)
    baseline = task.baseline()
    tokens = (steps_run - resumed) * spec.batch_size * task.seq_len
    record = RunRecord(
        id=spec.id, spec=spec.to_dict(), label=spec.label, outcome=outcome, stop_reason=stop_reason,
        test_accuracy=test["accuracy"], test_loss=test["loss"], test_exact_match=test["exact_match"],
        test_by_distance=test["by_distance"], baseline_accuracy=baseline["accuracy"],
        baseline_loss=baseline["loss"], steps_run=steps_run,
        # solved on test although validation had not yet reached the threshold: solved within the budget
        steps_to_solve=(steps_to_solve or steps_run) if outcome is Outcome.SOLVED else None,
        val_steps_to_threshold=steps_to_solve, d_model=d_model, params=count_parameters(model),
        learner_params=count_parameters(model.learner), seq_len=task.seq_len, load=load_of(task),
        tokens_per_s=tokens / train_seconds if train_seconds > 0 else None, train_seconds=train_seconds,
        wall_seconds=time.perf_counter() - wall0, curve=curve, threads=torch.get_num_threads(),
        device=str(device), steps_resumed=resumed or None, flops_per_step=step_flops(model, task, spec, d_model),
        gradient=gradient, checkpoint=checkpoint)
    # scores at multiples of the training length, on fresh batches of the test stream (None without length_factors)
    record.extrapolation = extrapolate(model, spec, task, test, lambda longer, rows, n: evaluate(
        model, longer, gen=generator(spec.seed, TEST, device), n_batches=n, batch_size=rows, device=device))
    record.wall_seconds = time.perf_counter() - wall0  # the scores at longer lengths included
    return (record, model) if return_model else record


def checkpoint_bytes(spec: RunSpec, model: SequenceModel, opt: torch.optim.Optimizer, sched: Any,
                     train_gen: torch.Generator, curve: list[dict[str, Any]], step: int,
                     val_steps_to_threshold: int | None) -> bytes:
    """The run's last state as torch.save bytes: what ``train(..., resume=...)`` needs to go on from ``step``."""
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "run": spec.id, "step": step, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "train_generator": train_gen.get_state(), "torch_rng": torch.get_rng_state(), "curve": curve,
                "val_steps_to_threshold": val_steps_to_threshold}, buffer)
    return buffer.getvalue()


def load_checkpoint(data: bytes, spec: RunSpec, device: torch.device) -> dict[str, Any]:
    """A checkpoint read back for ``spec``, which must continue the run it holds; ReachError when it does not."""
    try:
        state = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:  # a damaged or foreign file
        raise ReachError(f"the saved state of run {spec.continues} cannot be read ({type(exc).__name__}); delete "
                         f"checkpoints/{spec.continues}.pt and re-run: the escalation then trains from step 0") \
            from None
    if state.get("format") != CHECKPOINT_FORMAT or state.get("run") != spec.continues:
        raise ReachError(f"checkpoint of run {state.get('run')!r} given to a run that continues {spec.continues!r}")
    if int(state["step"]) > spec.steps:
        raise ReachError(f"run {spec.continues} already took {state['step']} steps, more than the {spec.steps} of "
                         f"the run that continues it")
    return state


def distance_gradient(model: SequenceModel, task: Task, spec: RunSpec) -> dict[str, Any]:
    """How much of the trained model's gradient reaches back the run's distance: G(k) / G(1), k = the distance.

    G(k) = mean ||∂h_{n-1}/∂x_{n-1-k}||_F of the learner (harness.run.jacobian.gradient_profile), on
    GRADIENT_BATCH sequences of the test stream, from GRADIENT_PROJECTIONS Gaussian projections, in float64 on a
    copy of the model (so that 0 means no path, not underflow). For hold, position n-1 is an answer whose item lies
    exactly d back, so G(d) is the gradient of that answer with respect to its item. k is capped at n - 1.
    """
    m = copy.deepcopy(model).to("cpu", torch.float64).eval()
    inputs = task.sample(GRADIENT_BATCH, torch.Generator().manual_seed(stream_seed(spec.seed, TEST))).inputs
    with torch.no_grad():
        x = m.encoder(inputs.to(torch.float64) if inputs.is_floating_point() else inputs)
    G = gradient_profile(m.learner, x, GRADIENT_PROJECTIONS, torch.Generator().manual_seed(spec.seed))
    k = min(spec.distance, len(G) - 1)
    return {"k": k, "G_k": float(G[k]), "G_1": float(G[1]),
            "ratio": float(G[k] / G[1]) if len(G) > 1 and G[1] > 0 else None}


def step_flops(model: SequenceModel, task: Task, spec: RunSpec, d_model: int) -> float:
    """FLOPs of one training step of ``spec``: forward and backward of one batch (harness.run.flopcount), counted
    on one sequence and scaled by the batch size (every count is linear in the batch)."""
    key = json.dumps([spec.learner, spec.learner_options, d_model, spec.n_layers, spec.task, spec.task_params,
                      spec.distance, spec.seq_len], sort_keys=True, default=str)
    if key not in _SEQUENCE_FLOPS:  # counts depend on shapes only: once per configuration and length per process
        inputs = task.sample(1, torch.Generator().manual_seed(0)).inputs.to(next(model.parameters()).device)
        _SEQUENCE_FLOPS[key] = count_flops(model, inputs, backward=True)
    return _SEQUENCE_FLOPS[key] * spec.batch_size


_SEQUENCE_FLOPS: dict[str, int] = {}  # step_flops' cache: forward + backward FLOPs of one sequence, by shapes
