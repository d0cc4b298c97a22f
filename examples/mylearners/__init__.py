"""A learner defined outside reach's packages: what a user writes to benchmark their own model.

Use it without forking reach (from the repository root, or with this folder's parent on PYTHONPATH):

    python run.py train --learner examples.mylearners:GatedConv --task lag --distance 8
    python run.py --suite examples/my_suite.toml

and test it in your own test suite with reach's public contract checks:

    from learners.checks import check_learner
    check_learner(GatedConv, kernel_size=3)
"""

from examples.mylearners.gated import GatedConv

__all__ = ["GatedConv"]
