"""Synthetic long-dependency tasks behind one interface. ``TASKS`` maps a name to a :class:`Task` subclass."""

from tasks.adding import Adding
from tasks.base import Batch, Task, TaskParameterError
from tasks.copy import Copy
from tasks.induction import Induction
from tasks.lag import Lag
from tasks.recall import Recall
from tasks.selective_copy import SelectiveCopy

TASKS: dict[str, type[Task]] = {
    "lag": Lag,
    "copy": Copy,
    "adding": Adding,
    "selective-copy": SelectiveCopy,
    "recall": Recall,
    "induction": Induction,
}

__all__ = ["TASKS", "Adding", "Batch", "Copy", "Induction", "Lag", "Recall", "SelectiveCopy", "Task",
           "TaskParameterError"]
