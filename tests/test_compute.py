"""Reach against training compute: the compute to solve a rung is where a majority of its seeds had solved it, and
the reach within C FLOPs is exact only up to what the first unsolved rung was given."""

import math

from harness.report.compute import RungCompute, _majority_compute, compute_table, reach_at


def rung(r, to_solve, spent, top=64, solved=2, seeds=2):
    return RungCompute("hold", "gru", "distance", r, seeds, solved, to_solve, spent, 1e6, top)


def test_a_majority_of_seeds_sets_the_compute_to_solve():
    assert _majority_compute([3.0, 1.0, 2.0]) == 2.0  # 2 of 3
    assert _majority_compute([1.0, 2.0]) == 2.0  # both of 2
    assert _majority_compute([1.0, math.inf, math.inf]) == math.inf


def test_reach_grows_with_compute_and_says_where_it_is_a_lower_bound():
    ladder = [rung(4, 1e9, 2e9), rung(8, 5e8, 2e9), rung(16, 4e9, 8e9), rung(32, math.inf, 3e10, solved=0)]
    assert reach_at(ladder, 1e8) == (0, True)
    assert reach_at(ladder, 1e9) == (8, True)  # rung 8 took less than rung 4, but needs rung 4 first
    assert reach_at(ladder, 5e9) == (16, True)
    assert reach_at(ladder, 3e10) == (16, True)  # rung 32 got 3e10 and did not solve
    assert reach_at(ladder, 1e11) == (16, False)  # beyond what rung 32 was given: at least 16
    pruned = [rung(4, 1e9, 2e9), rung(8, 2e9, 4e9)]  # every tried rung solved, the ladder goes on to 64
    assert reach_at(pruned, 1e10) == (8, False)
    whole = [rung(4, 1e9, 2e9, top=8), rung(8, 2e9, 4e9, top=8)]
    assert reach_at(whole, 1e12) == (8, True)


def test_the_table_spans_the_compute_that_was_spent():
    ladder = [rung(4, 2e9, 3e9), rung(8, math.inf, 4e10, solved=0)]
    (row,) = compute_table(ladder, ["gru"])
    assert row["levels"][0] <= 2e9 and row["levels"][-1] >= 4e10
    assert row["reach"][-1] == (4, False)
