"""The literature, reproduced: every published claim the ``literature`` suite checks, as data, and its table.

Each :class:`~harness.report.claims.Claim` names its source, the published figures and settings, the settings
scaled to a 2-core machine (from the suite's own constants in harness.config.builtin, so the two cannot drift), the
agreement rule fixed before the run, and the judge that computes *agrees*, *disagrees* or *not comparable at this
scale* from the measured evidence (harness.report.claims). templates/literature.j2 writes every sentence.

Cuts. Each metric's cut lies between the published figures of the two sides of its claim: a tenth of the
memoryless baseline for Bai et al.'s losses (their passing models sit at 0.2–0.4 % of it, their failing ones at
96–106 %); accuracy 0.9 for selective copying (best time-invariant model 57.0 %, worst selective one 97.0 %); 0.95
for MQAR (attention about 1.0, the best other model 0.90 at (64, 4)); Hochreiter & Schmidhuber's own criterion for
the adding problem (at most 1 wrong of 2,560 test sequences, each within 0.04 of their target, which is half of
reach's sum: 0.08 on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.table import Table

from harness.config.builtin import (
    ADDING_BAI,
    ADDING_LENGTHS,
    COPY_DELAY,
    HOCHREITER_THRESHOLD,
    HOCHREITER_TOLERANCE,
    LITERATURE_NAME,
    MQAR_POINTS,
    MQAR_VOCAB,
    SELECTIVE_COPY,
)
from harness.config.plan import Cell
from harness.report.claims import (
    FAILS,
    SOLVES,
    Agreement,
    Claim,
    Evidence,
    Group,
    Metric,
    Point,
    Row,
    by_path_order,
    by_points,
    evidence,
    measure,
)
from harness.store.folder import read_runs
from harness.store.record import RunRecord

MSE_RATIO = Metric("loss_ratio", 0.1, True, "MSE")  # the test loss against the task's memoryless baseline
CE_RATIO = Metric("loss_ratio", 0.1, True, "cross-entropy")
HOCHREITER = Metric("test_accuracy", HOCHREITER_THRESHOLD, False, "≤ 1 wrong of 2,560 test sequences")
ADDING_POINTS = tuple(Point("adding", t, f"T = {t}") for t in ADDING_LENGTHS)
BAI_POINTS = (Point(ADDING_BAI[0], ADDING_BAI[1], f"T = {ADDING_BAI[1]}"),)
SEQUENCES_T100 = 74_000  # Hochreiter & Schmidhuber 1997, Table 7: sequences to success at T = 100
RECIPE = ("d_model 64 and 2 layers for every learner instead of the paper's own sizes",
          "AdamW at a constant rate after 50 warm-up steps, batches of 16, stopped once solved on validation",
          "learning rates of the calibrate suite (chosen on hold, not on this task)")

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="1a", title="the TCN and the GRU solve the adding problem; the LSTM and the RNN stay at the baseline",
        source="Bai, Kolter & Koltun 2018, Table 1",
        published_settings="adding problem, T = 600, about 70K parameters per model, test MSE (predicting 1 scores "
                           "1/6 ≈ 0.167)",
        scaled_settings=f"T = {ADDING_BAI[1]} for the TCN and the GRU, T = {', '.join(map(str, ADDING_LENGTHS))} "
                        f"for the LSTM and the RNN (claim 2's runs); test MSE on 2,560 sequences",
        rule="a learner passes a length when a majority of its seeds reach a test MSE of at most a tenth of 1/6; the "
             "TCN and the GRU must pass; the LSTM and the RNN agree by failing a length that another learner passes "
             "(passing every length is not comparable: the published failures are at T = 600)",
        differs=(f"T = {max(ADDING_LENGTHS + [ADDING_BAI[1]])} at most instead of 600",) + RECIPE,
        settle="at T = 600 with 4x the budget and 3 seeds",
        groups=(Group("tcn", ("tcn",), SOLVES, "MSE 5.8e-5", BAI_POINTS),
                Group("gru", ("gru",), SOLVES, "MSE 5.3e-5", BAI_POINTS),
                Group("lstm", ("lstm",), FAILS, "MSE 0.164"), Group("rnn", ("rnn",), FAILS, "MSE 0.177")),
        judge=by_points, points=ADDING_POINTS, metric=MSE_RATIO),
    Claim(
        id="1b", title="the TCN solves copy memory; the recurrent nets stay at the memoryless baseline",
        source="Bai, Kolter & Koltun 2018, Table 1",
        published_settings="copy memory, T = 1000, 10 symbols of 8, about 16K parameters, cross-entropy over all "
                           "T + 20 positions (memoryless 10·ln 8 / (T + 20) = 0.0204)",
        scaled_settings=f"T = {COPY_DELAY} (memoryless {10:d}·ln 8 / {COPY_DELAY + 20}), the same loss",
        rule="a learner passes when a majority of its seeds reach a test cross-entropy of at most a tenth of the "
             "memoryless baseline; the TCN must pass; a recurrent net agrees by failing where another learner "
             "passes (passing is not comparable: the published failures are at T = 1000)",
        differs=(f"T = {COPY_DELAY} instead of 1000",) + RECIPE,
        settle="at T = 1000 with 4x the budget and 3 seeds",
        groups=(Group("tcn", ("tcn",), SOLVES, "loss 3.5e-5"), Group("gru", ("gru",), FAILS, "loss 0.0197"),
                Group("lstm", ("lstm",), FAILS, "loss 0.0204"), Group("rnn", ("rnn",), FAILS, "loss 0.0202")),
        judge=by_points, points=(Point("copy", COPY_DELAY, f"T = {COPY_DELAY}"),), metric=CE_RATIO),
    Claim(
        id="2", title="the LSTM bridges long lags on the adding problem, given long training",
        source="Hochreiter & Schmidhuber 1997, Table 7",
        published_settings="adding problem, T = 100 (500, 1000), 10 trials; success after 74,000 training "
                           "sequences (209,000, 853,000); solved = at most 1 wrong of 2,560 test sequences, "
                           "|error| < 0.04 on a target 0.5 + (x1 + x2)/4",
        scaled_settings=f"T = {', '.join(map(str, ADDING_LENGTHS))}; solved = at most 1 wrong of 2,560 test "
                        f"sequences (the suite's solve threshold 2559/2560), |error| < {HOCHREITER_TOLERANCE:g} on the "
                        f"sum of values in [0, 1], the paper's 0.04 on its target (half that sum)",
        rule="the LSTM passes a length when a majority of its seeds are solved by the paper's criterion; it must "
             "pass every length up to 100; a failure counts when the runs had at least the published 74,000 "
             "training sequences (the paper's own budget makes the setting decisive, whatever other learners do); "
             "sequences to success = steps to solve x batch size",
        differs=("AdamW on batches of 16 instead of online gradient descent, one update per sequence",
                 "stopped once 2,560 validation sequences meet the criterion instead of once 2,000 consecutive "
                 "training sequences are right") + RECIPE[:1] + RECIPE[2:],
        settle="of the LSTM with 4x the budget, or with a learning rate calibrated on the adding problem",
        groups=(Group("lstm", ("lstm",), SOLVES, "T = 100: solved after 74,000 sequences"),),
        judge=by_points, points=ADDING_POINTS, metric=HOCHREITER, min_budget=SEQUENCES_T100, needs_passer=False),
    Claim(
        id="3", title="selection (input-dependent Δ, B, C) solves selective copying; a time-invariant recurrence does "
                      "not",
        source="Gu & Dao 2023, Table 1",
        published_settings="selective copying, length 4096, vocabulary 16, 16 data tokens, 2 layers, width 64, "
                           "400K steps",
        scaled_settings=f"length {SELECTIVE_COPY['distance'] + SELECTIVE_COPY['n_data']}, vocabulary "
                        f"{SELECTIVE_COPY['vocab']}, {SELECTIVE_COPY['n_data']} data tokens, 2 layers, width 64; "
                        f"mamba at expand 1, state 8 (the main study's)",
        rule="a learner passes when a majority of its seeds reach a test accuracy of 0.9; mamba must pass; the lru "
             "agrees by failing where another learner passes; each at the better of lr 1e-3 and 1e-2 by final "
             "validation accuracy",
        differs=(f"length {SELECTIVE_COPY['distance'] + SELECTIVE_COPY['n_data']} instead of 4096",
                 "thousands of steps instead of 400K",
                 "mamba at expand 1 and state 8 instead of 2 and 16",
                 "the better of 2 learning rates on validation instead of lr 1e-4") + RECIPE[1:2],
        settle="at length 4096 with the paper's 400K steps, or at this length with 4x the budget",
        groups=(Group("mamba (S6, selective)", ("mamba",), SOLVES, "S6 97.0 %; Mamba block with S6 99.8 %"),
                Group("lru (time-invariant)", ("lru",), FAILS, "S4 without gating 18.3 %; Mamba block with S4 "
                                                               "56.4 %")),
        judge=by_points, points=(Point("selective-copy", SELECTIVE_COPY["distance"],
                                       f"length {SELECTIVE_COPY['distance'] + SELECTIVE_COPY['n_data']}"),),
        metric=Metric("test_accuracy", 0.9, False, "test accuracy")),
    Claim(
        id="4", title="attention solves MQAR at width 64 whatever the number of pairs; a fixed state falls as pairs "
                      "grow",
        source="Arora et al. 2023 (Zoology), Figure 2",
        published_settings="MQAR, d_model 64, 2 layers, vocabulary 8192, (length, pairs) = (64, 4), (128, 8), "
                           "(256, 16), best of 4 learning rates",
        scaled_settings=f"(length, pairs) = {', '.join(s for *_, s in MQAR_POINTS)}, vocabulary {MQAR_VOCAB}",
        rule="a learner passes a point when a majority of its seeds reach a test accuracy of 0.95; the transformer "
             "must pass every point; the lru agrees by failing a point another learner passes (passing every point "
             "is not comparable: the published falls are at 8192 tokens and up to 16 pairs); each learner at the "
             "better of lr 1e-3 and 1e-2 by final validation accuracy",
        differs=(f"vocabulary {MQAR_VOCAB} instead of 8192", "no (256, 16) point",
                 "the better of 2 learning rates on validation instead of the best of 4",
                 "lru for the fixed-state models (H3, RWKV, BaseConv, Hyena)") + RECIPE[1:2],
        settle="at vocabulary 8192 and (256, 16) with the best of 4 learning rates",
        groups=(Group("attention", ("transformer",), SOLVES, "≈ 1.0 at every point"),
                Group("lru (fixed state)", ("lru",), FAILS, "H3 0.90, RWKV 0.74, BaseConv 0.69, Hyena 0.51 at "
                                                            "(64, 4); ≤ 0.15 at (256, 16)")),
        judge=by_points, points=tuple(Point(label, d, setting) for label, d, _, setting in MQAR_POINTS),
        metric=Metric("test_accuracy", 0.95, False, "test accuracy")),
    Claim(
        id="5", title="maximum path length orders the families: self-attention O(1) < dilated convolution "
                      "O(log_k n) < recurrence O(n)",
        source="Vaswani et al. 2017, Table 1",
        published_settings="theory: maximum path length between any two positions of a sequence of n",
        scaled_settings="the suite's gradient probe: decay of G(k) = E‖∂y_t/∂x_{t−k}‖ per step back at "
                        "initialisation, n = 64",
        rule="each family's largest decay rate (decades of G(k) per step back) lies below the next family's "
             "smallest, in the order of Table 1",
        differs=("a gradient at initialisation stands in for the path length",),
        settle="of the gradient probe after training (decay_rate_trained) and at a larger n",
        groups=(Group("self-attention, O(1)", ("transformer",), SOLVES, "O(1)"),
                Group("dilated convolution, O(log_k n)", ("tcn",), SOLVES, "O(log_k n)"),
                Group("recurrent, O(n)", ("rnn", "lstm", "gru"), SOLVES, "O(n)")),
        judge=by_path_order),
)


def claim_rows(ev: Evidence, claims: tuple[Claim, ...] = CLAIMS) -> list[Row]:
    """Every claim's rows, in order."""
    return [row for claim in claims for row in claim.rows(ev)]


@dataclass(frozen=True)
class SuccessRow:
    """Claim 2 in detail: one learner at one length of the adding problem."""

    learner: str
    setting: str
    solved: int
    seeds: int
    trained: int
    low: float | None
    high: float | None
    median: float | None  # training sequences to success, over the solved seeds
    fewest: int | None
    most: int | None
    budget: int | None
    extended: int
    extended_solved: int
    published: int | None


def success_table(ev: Evidence, learners: tuple[str, ...] = ("lstm", "gru", "rnn")) -> list[SuccessRow]:
    """Sequences to success and the success rate over seeds (with its Wilson 95% interval) per learner and
    length of the adding problem, by Hochreiter & Schmidhuber's criterion; the published count beside the lstm."""
    out = []
    for lab in learners:
        for point in ADDING_POINTS:
            m = measure(ev, HOCHREITER, lab, point)
            if not m.seeds:
                continue
            low, high = m.interval or (None, None)
            out.append(SuccessRow(lab, point.setting, m.solved, m.seeds, m.trained, low, high, m.median_sequences,
                                  min(m.sequences, default=None), max(m.sequences, default=None), m.budget,
                                  m.extended, m.extended_solved,
                                  SEQUENCES_T100 if lab == "lstm" and point.rung == 100 else None))
    return out


def is_literature(suite: dict[str, Any]) -> bool:
    return suite.get("name") == LITERATURE_NAME


def section(loaded: Any) -> dict[str, Any] | None:
    """The literature section of a results folder's report (None for any other suite): the claim rows, the
    counts per agreement, and claim 2's sequences to success."""
    if not is_literature(loaded.suite) or loaded.suite_obj is None:
        return None
    records = read_runs(loaded.folder) if (loaded.folder / "runs.jsonl").exists() else []
    ev = evidence(records + loaded.pending, loaded.plan, loaded.suite_obj.seeds, loaded.table1)
    rows = claim_rows(ev)
    counts = {str(a): sum(r.agreement is a for r in rows) for a in Agreement}
    return {"rows": rows, "counts": counts, "success": success_table(ev), "seeds": loaded.suite_obj.seeds,
            "claims": list(CLAIMS)}


def compare_claims(base: list[RunRecord], new: list[RunRecord], plan_base: list[Cell] | None,
                   plan_new: list[Cell] | None, suite_base: str | None,
                   suite_new: str | None) -> tuple[Table, list[str]] | None:
    """For ``compare`` on two literature folders: each claim row's agreement in BASE and NEW (a table), and one
    regression line per row that agreed in BASE and disagrees in NEW, for the claims judged on runs (not Table 1's,
    which reads the probes). None unless both folders ran the suite."""
    if suite_base != LITERATURE_NAME or suite_new != LITERATURE_NAME or not plan_base or not plan_new:
        return None
    ev = [evidence(records, plan, sorted({c.seed for c in plan}))
          for records, plan in ((base, plan_base), (new, plan_new))]
    runs_claims = tuple(c for c in CLAIMS if c.metric is not None)  # claim 5 reads table1.csv, which compare does not
    rows_b, rows_n = claim_rows(ev[0], runs_claims), claim_rows(ev[1], runs_claims)
    table = Table()
    for col in ("claim", "group", "BASE", "NEW", ""):
        table.add_column(col)
    regressions = []
    for rb, rn in zip(rows_b, rows_n):
        bad = rb.agreement is Agreement.AGREES and rn.agreement is Agreement.DISAGREES
        if bad:
            regressions.append(f"claim {rb.claim.id} ({rb.group.name}) agreed with {rb.claim.source} in BASE and "
                               f"disagrees in NEW")
        table.add_row(escape(rb.claim.id), escape(rb.group.name), str(rb.agreement), str(rn.agreement),
                      "[bold red]REGRESSED[/]" if bad else "ok")
    return table, regressions
