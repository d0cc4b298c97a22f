"""Sequence learners behind one interface. ``LEARNERS`` maps a name to a :class:`Learner` subclass."""

from learners.attention import LocalAttention, Transformer
from learners.base import FAMILIES, ContextLengthError, Learner, LearnerOptionError
from learners.conv import CNN, TCN
from learners.linear_recurrent import LRU, Mamba
from learners.recurrent import GRU, LSTM, RNN

LEARNERS: dict[str, type[Learner]] = {
    "rnn": RNN,
    "lstm": LSTM,
    "gru": GRU,
    "cnn": CNN,
    "tcn": TCN,
    "transformer": Transformer,
    "local-attention": LocalAttention,
    "lru": LRU,
    "mamba": Mamba,
}

__all__ = ["FAMILIES", "LEARNERS", "ContextLengthError", "Learner", "LearnerOptionError"]
