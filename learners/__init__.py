"""Sequence learners behind one interface. ``LEARNERS`` maps a name to a :class:`Learner` subclass."""

from learners.base import Learner, LearnerOptionError

LEARNERS: dict[str, type[Learner]] = {}

__all__ = ["LEARNERS", "Learner", "LearnerOptionError"]
