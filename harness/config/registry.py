"""Look up learners and tasks by registry name or by ``package.module:Class`` for users' own classes."""

from __future__ import annotations

import importlib
import inspect

from harness.errors import ReachError
from harness.text import did_you_mean
from learners import LEARNERS, Learner
from tasks import TASKS, Task


def _load_external(ref: str, base: type, what: str) -> type:
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ReachError(f"{what} '{ref}': an external {what} is written 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ReachError(f"{what} '{ref}': cannot import module '{module_name}' ({exc}); "
                         f"is it on PYTHONPATH?") from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise ReachError(f"{what} '{ref}': module '{module_name}' has no attribute '{attr}'")
    if not (inspect.isclass(cls) and issubclass(cls, base)):
        raise ReachError(f"{what} '{ref}' is not a subclass of {base.__module__}.{base.__name__}")
    return cls


def _lookup(name: str, registry: dict[str, type], base: type, what: str) -> type:
    if ":" in name:
        return _load_external(name, base, what)
    if name in registry:
        return registry[name]
    hint = did_you_mean(name, registry, "; did you mean '{}'?")
    raise ReachError(f"unknown {what} '{name}'{hint} (known: {', '.join(registry)}; "
                     f"`python run.py list` describes them)")


def learner_class(name: str) -> type[Learner]:
    return _lookup(name, LEARNERS, Learner, "learner")


def task_class(name: str) -> type[Task]:
    return _lookup(name, TASKS, Task, "task")
