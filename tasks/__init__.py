"""Synthetic long-dependency tasks behind one interface. ``TASKS`` maps a name to a :class:`Task` subclass."""

from tasks.adding import Adding
from tasks.base import Batch, Task, TaskParameterError
from tasks.copy import Copy
from tasks.hold import Hold
from tasks.induction import Induction
from tasks.lag import Lag
from tasks.recall import Recall
from tasks.rules import Sample, Spread
from tasks.selective_copy import SelectiveCopy

TASKS: dict[str, type[Task]] = {
    "lag": Lag,
    "copy": Copy,
    "hold": Hold,
    "adding": Adding,
    "selective-copy": SelectiveCopy,
    "recall": Recall,
    "induction": Induction,
}

__all__ = ["TASKS", "Adding", "Batch", "Copy", "Hold", "Induction", "Lag", "Recall", "Sample", "SelectiveCopy",
           "Spread", "Task", "TaskParameterError"]
