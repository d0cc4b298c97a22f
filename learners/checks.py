"""Common checks every learner must pass, after scikit-learn's ``check_estimator``.

``check_learner(MyLearner, **options)`` runs them all on a small instance (d_model 16, 2 layers, max_len 64);
each ``check_*`` function can also run alone and raises AssertionError saying what broke. The checks build
their own instances, seeded, in eval mode (so dropout options do not make them flaky).
"""

from __future__ import annotations

from typing import Any

import torch

from learners.base import FAMILIES, Learner, LearnerOptionError

SIZE = {"d_model": 16, "n_layers": 2, "max_len": 64}
LENGTH = 24  # sequence length of the checks; the receptive-field check may go up to max_len
BATCH = 4


def build(cls: type[Learner], seed: int = 0, dtype: torch.dtype = torch.float32, **options: Any) -> Learner:
    """A small instance of cls, initialised under torch.manual_seed(seed), in eval mode."""
    torch.manual_seed(seed)
    return cls(**SIZE, **options).to(dtype).eval()


def sample(length: int, dtype: torch.dtype = torch.float32, seed: int = 1) -> torch.Tensor:
    """Inputs [BATCH, length, d_model] from their own generator (the global RNG is left alone)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, length, SIZE["d_model"], generator=g).to(dtype)


def check_declarations(cls: type[Learner], **options: Any) -> None:
    """name, family, summary, theory and OPTIONS are declared; path length and sequential ops are ints >= 1."""
    assert cls.name, f"{cls.__name__}: set the class attribute 'name'"
    assert cls.family in FAMILIES, f"{cls.name}: family {cls.family!r} is not one of {FAMILIES}"
    assert cls.summary and "\n" not in cls.summary, f"{cls.name}: 'summary' must be one non-empty line"
    keys = {"complexity", "sequential_ops", "max_path_length"}
    assert set(cls.theory) == keys, f"{cls.name}: theory keys are {sorted(cls.theory)}, expected {sorted(keys)}"
    assert all(isinstance(v, str) and v for v in cls.theory.values()), f"{cls.name}: theory values must be strings"
    assert isinstance(cls.OPTIONS, dict), f"{cls.name}: OPTIONS must be a dict of name -> default"
    m = build(cls, **options)
    for n in (1, 2, 7, 64, 1000):
        for method in (m.max_path_length, m.sequential_ops):
            value = method(n)
            assert type(value) is int and value >= 1, f"{cls.name}.{method.__name__}({n}) = {value!r}, not an int >= 1"
        rf = m.receptive_field(n)
        assert rf is None or (type(rf) is int and rf >= 1), f"{cls.name}.receptive_field({n}) = {rf!r}"


def check_output_shape(cls: type[Learner], **options: Any) -> None:
    """forward maps [B, L, D] to [B, L, D] of the input's dtype, finite, for several lengths."""
    m = build(cls, **options)
    for length in (1, 5, LENGTH):
        y = m(sample(length))
        expected = (BATCH, length, SIZE["d_model"])
        assert tuple(y.shape) == expected, f"{cls.name}: output shape {tuple(y.shape)}, expected {expected}"
        assert y.dtype == torch.float32, f"{cls.name}: output dtype {y.dtype}, expected float32"
        assert torch.isfinite(y).all(), f"{cls.name}: non-finite output at length {length}"


def check_causal(cls: type[Learner], **options: Any) -> None:
    """Changing inputs after position t leaves outputs at positions <= t unchanged (atol 1e-6)."""
    m = build(cls, **options)
    x = sample(LENGTH)
    with torch.no_grad():
        y = m(x)
        for t in range(LENGTH - 1):
            x2 = x.clone()
            x2[:, t + 1:] = sample(LENGTH - t - 1, seed=100 + t)
            err = (m(x2)[:, : t + 1] - y[:, : t + 1]).abs().max().item()
            assert err <= 1e-6, f"{cls.name}: not causal, outputs at <= {t} moved by {err:.2e} when later ones changed"


def check_deterministic(cls: type[Learner], **options: Any) -> None:
    """The same seed builds the same parameters and outputs; the same module gives the same forward twice."""
    a, b = build(cls, **options), build(cls, **options)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), f"{cls.name}: parameter {name} differs between two builds under the same seed"
    x = sample(LENGTH)
    with torch.no_grad():
        ya, yb, ya2 = a(x), b(x), a(x)
    assert torch.equal(ya, yb), f"{cls.name}: two builds under the same seed give different outputs"
    assert torch.equal(ya, ya2), f"{cls.name}: the same module gives different outputs on the same input"


def check_receptive_field(cls: type[Learner], **options: Any) -> None:
    """The declared receptive field r is the measured one: d y_t / d x_{t-k} is exactly 0 for k >= r and
    non-zero for k < r (every k when r is None), at t = the last position, in float64.

    The length is LENGTH, or r + 8 when that is longer (at most max_len, beyond which k >= r is not tested).
    """
    m = build(cls, dtype=torch.float64, **options)
    rf = m.receptive_field(SIZE["max_len"])
    length = LENGTH if rf is None else min(SIZE["max_len"], max(LENGTH, rf + 8))
    x = sample(length, torch.float64).requires_grad_()
    w = torch.randn(SIZE["d_model"], generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    (m(x)[:, -1] @ w).sum().backward()  # a random projection: a plain sum is 0 after a LayerNorm
    for k in range(length):
        g = x.grad[:, length - 1 - k].norm().item()
        if rf is not None and k >= rf:
            assert g == 0.0, (f"{cls.name}: receptive_field() = {rf}, but the output at t depends on input t-{k} "
                              f"(gradient norm {g:.2e})")
        else:
            assert g > 0.0, (f"{cls.name}: receptive_field() = {rf}, but the output at t does not depend on "
                             f"input t-{k} (gradient exactly 0)")


def check_gradients(cls: type[Learner], **options: Any) -> None:
    """forward + backward gives every trainable parameter a finite gradient; at least one is trainable.

    Frozen parameters (requires_grad=False) and buffers are allowed, as in modules that hold fixed tables and
    in third-party mixers; they get no gradient and need none.
    """
    m = build(cls, **options).train()
    for name, p in m.named_parameters():
        assert p.dtype == torch.float32, f"{cls.name}: parameter {name} is {p.dtype}, expected float32"
    trainable = [(name, p) for name, p in m.named_parameters() if p.requires_grad]
    assert trainable, f"{cls.name}: no trainable parameter"
    m(sample(LENGTH)).square().mean().backward()
    for name, p in trainable:
        assert p.grad is not None, f"{cls.name}: parameter {name} gets no gradient"
        assert torch.isfinite(p.grad).all(), f"{cls.name}: parameter {name} has a non-finite gradient"


def check_rejects_bad_options(cls: type[Learner], **options: Any) -> None:
    """An unknown option, an option of the wrong type, and d_model or n_layers < 1 raise LearnerOptionError
    whose message names the culprit."""
    cases = [("not_an_option", {"not_an_option": 1})]
    cases += [(key, {key: object()}) for key in cls.OPTIONS]
    for culprit, bad in cases:
        try:
            cls(**SIZE, **{**options, **bad})
        except LearnerOptionError as exc:
            assert culprit in str(exc), f"{cls.name}: the error for bad option '{culprit}' does not name it: {exc}"
        else:
            raise AssertionError(f"{cls.name}: accepted bad option {culprit}={bad[culprit]!r}")
    for key in ("d_model", "n_layers"):
        try:
            cls(**{**SIZE, key: 0}, **options)
        except LearnerOptionError as exc:
            assert key in str(exc), f"{cls.name}: the error for {key}=0 does not name it: {exc}"
        else:
            raise AssertionError(f"{cls.name}: accepted {key}=0")


CHECKS = (check_declarations, check_output_shape, check_causal, check_deterministic, check_receptive_field,
          check_gradients, check_rejects_bad_options)


def check_learner(cls: type[Learner], **options: Any) -> None:
    """Run every check on cls built with ``options``; raises AssertionError at the first failure."""
    for check in CHECKS:
        check(cls, **options)
