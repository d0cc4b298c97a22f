"""The literature suite: claims judged by rules that can come out every way, from records of the suite's own plan.

Records are synthetic (each a cell of the built-in literature suite's plan with a chosen outcome and loss), so each
rule is fed a frame where agrees, disagrees and not comparable must each come out."""

import copy
import dataclasses
import json

import pandas as pd
import pytest

from harness.config.builtin import BUILTIN_SUITES, HOCHREITER_THRESHOLD, LITERATURE_ESCALATE
from harness.config.suites import Suite, load_suite
from harness.errors import ReachError
from harness.report.claims import (
    FAILS,
    SOLVES,
    Agreement,
    Group,
    Point,
    by_path_order,
    evidence,
    extensions,
    is_primary,
    wilson,
)
from harness.report.html import build_report
from harness.report.literature import CLAIMS, claim_rows, compare_claims, success_table
from harness.store.record import Outcome, RunRecord

SUITE = load_suite("literature")
PLAN = SUITE.plan()
A = Agreement


def cell_record(cell, ratio=1.0, acc=None, solved=None, steps_to_solve=None, steps=None, outcome=None):
    """A record for one planned cell: loss = ratio x the task's memoryless loss; solved when acc >= threshold."""
    spec = cell.spec
    base = spec.task_obj.baseline()
    acc = (1.0 if ratio < 0.1 else base["accuracy"]) if acc is None else acc
    solved = acc >= spec.solve_threshold if solved is None else solved
    out = Outcome(outcome) if outcome else Outcome.SOLVED if solved else Outcome.UNSOLVED
    return RunRecord(id=spec.id, spec=spec.to_dict(), label=cell.learner, outcome=out, test_accuracy=acc,
                     test_loss=ratio * base["loss"], baseline_loss=base["loss"], baseline_accuracy=base["accuracy"],
                     steps_run=steps or spec.steps,
                     steps_to_solve=(steps_to_solve or 500) if out is Outcome.SOLVED else None, params=50_000,
                     curve=[{"step": steps or spec.steps, "val_accuracy": acc}])


def folder_records(fill):
    """One record per planned cell; ``fill(task, learner name, rung, seed)`` -> kwargs of cell_record, or None to
    leave the cell without a record, or "skip" for a pruned one; every candidate learning rate alike unless
    ``fill`` reads the cell's lr."""
    records = {}
    for cell in PLAN:
        kw = fill(cell.task, cell.learner.split("[")[0], cell.rung, cell.seed)
        if kw is None:
            continue
        if kw == "skip":
            records[cell.spec.id] = RunRecord.skipped(cell.spec, 50)
        else:
            records[cell.spec.id] = cell_record(cell, **kw)
    return list(records.values())


def rows_of(records, table1=None):
    ev = evidence(records, PLAN, SUITE.seeds, table1)
    return {(r.claim.id, r.group.name): r for r in claim_rows(ev)}


def as_published(task, learner, rung, seed):
    """Every claim as published: tcn/gru solve adding, lstm solves it too (Hochreiter), rnn fails; tcn solves copy;
    mamba solves selective copying, the lru does not; the transformer solves MQAR, lru and mamba fall at 8 pairs."""
    if task == "adding":
        if learner == "rnn":
            return {"ratio": 1.0} if rung == 50 else "skip"
        return {"ratio": 0.001, "acc": 1.0, "steps_to_solve": 800 if rung == 50 else 2000}
    if task == "adding-bai":
        return {"ratio": 0.006, "acc": 0.9}  # far below the baseline's MSE, short of the 0.99 threshold
    if task == "copy":
        return {"ratio": 0.01 if learner == "tcn" else 1.0}
    if task == "selective-copy":
        return {"acc": 0.99 if learner == "mamba" else 0.3}
    if task.startswith("mqar"):
        return {"acc": 1.0 if learner == "transformer" or task == "mqar(64,4)" else 0.4}
    raise AssertionError(task)


def test_the_suite_plans_each_claim_on_its_learners_with_three_seeds():
    cells = {(c.task, c.learner) for c in PLAN}
    names = {(c.task, c.spec.learner) for c in PLAN}
    assert {lrn for task, lrn in cells if task == "adding"} == {"rnn", "lstm", "gru"}
    assert {lrn for task, lrn in cells if task == "adding-bai"} == {"gru", "tcn"}
    assert {lrn.split("[")[0] for task, lrn in cells if task == "selective-copy"} == {"lru", "mamba"}
    assert {lrn for task, lrn in cells if task.startswith("mqar")} == {"transformer[lr=0.001]", "transformer[lr=0.01]",
                                                                        "lru[lr=0.001]", "lru[lr=0.01]"}
    assert len(SUITE.seeds) >= 3 and all(c.spec.schedule == "constant" for c in PLAN)
    adding = [c.spec for c in PLAN if c.task == "adding"]
    assert all(s.test_batches * s.batch_size == 2560 and s.solve_threshold == HOCHREITER_THRESHOLD for s in adding)
    assert min(s.steps * s.batch_size for s in adding) >= 74_000  # a failure at T = 100 can disagree
    assert LITERATURE_ESCALATE == {"factor": 4, "seeds": 3}
    # every point and learner a claim names is planned
    for claim in CLAIMS:
        for group in claim.groups:
            for point in group.points or claim.points:
                assert all((point.task, lab) in names for lab in group.learners), (claim.id, point, group)


def test_as_published_every_claim_on_runs_agrees_or_is_not_comparable_where_the_scale_cannot_show_it():
    rows = rows_of(folder_records(as_published))
    got = {key: r.agreement for key, r in rows.items() if key[0] != "5"}
    assert got[("1a", "tcn")] is A.AGREES and got[("1a", "gru")] is A.AGREES
    assert got[("1a", "rnn")] is A.AGREES  # fails T = 50, where tcn and gru pass
    assert got[("1a", "lstm")] is A.NOT_COMPARABLE and rows[("1a", "lstm")].reason == "passes_easier"
    assert got[("1b", "tcn")] is A.AGREES and all(got[("1b", n)] is A.AGREES for n in ("gru", "lstm", "rnn"))
    assert got[("2", "lstm")] is A.AGREES
    assert got[("3", "mamba (S6, selective)")] is A.AGREES and got[("3", "lru (time-invariant)")] is A.AGREES
    assert got[("4", "attention")] is A.AGREES
    assert got[("4", "lru (fixed state)")] is A.AGREES
    assert rows[("4", "lru (fixed state)")].facts["setting"] == "(128, 8)"
    assert rows[("5", "self-attention, O(1)")].agreement is A.NOT_COMPARABLE  # no probes in this folder


def test_a_published_solver_that_fails_where_another_passes_disagrees():
    def tcn_fails(task, learner, rung, seed):
        if task == "adding-bai" and learner == "tcn":
            return {"ratio": 0.9}
        if task == "mqar(128,8)" and learner == "transformer":
            return {"acc": 0.5 if seed else 0.99}  # 1 of 3 seeds: no majority
        if task == "mqar(128,8)" and learner == "lru":
            return {"acc": 0.97}
        return as_published(task, learner, rung, seed)

    rows = rows_of(folder_records(tcn_fails))
    assert rows[("1a", "tcn")].agreement is A.DISAGREES
    assert rows[("1a", "tcn")].facts["others"] == ["gru", "lstm"]  # lstm: at T = 100 of the other adding entry
    assert rows[("4", "attention")].agreement is A.DISAGREES
    assert rows[("4", "lru (fixed state)")].agreement is A.NOT_COMPARABLE  # passes both: easier than published


def test_nothing_passing_a_setting_is_not_comparable_whatever_was_published():
    def baseline(task, learner, rung, seed):
        if task == "adding" and learner == "rnn":
            return {"ratio": 1.0} if rung == 50 else "skip"
        return {"ratio": 1.0, "acc": 0.1}

    rows = rows_of(folder_records(baseline))
    assert {r.agreement for k, r in rows.items() if k[0] not in "25"} == {A.NOT_COMPARABLE}
    assert rows[("2", "lstm")].agreement is A.DISAGREES  # its budget, the published 74,000 sequences, decides
    assert rows[("1a", "tcn")].reason == "nothing_passes" and rows[("3", "mamba (S6, selective)")].reason == \
        "nothing_passes"


def test_a_published_failure_passed_at_a_setting_as_hard_disagrees():
    claim = next(c for c in CLAIMS if c.id == "1b")
    hard = dataclasses.replace(claim, points=tuple(dataclasses.replace(p, as_hard=True) for p in claim.points))

    def all_pass(task, learner, rung, seed):
        return {"ratio": 0.01} if task == "copy" else as_published(task, learner, rung, seed)

    ev = evidence(folder_records(all_pass), PLAN, SUITE.seeds)
    assert {r.group.name: r.agreement for r in claim.rows(ev)}["gru"] is A.NOT_COMPARABLE
    assert {r.group.name: r.agreement for r in hard.rows(ev)}["gru"] is A.DISAGREES


def test_hochreiter_lstm_disagrees_when_it_fails_with_the_published_budget_and_not_with_less():
    def lstm_fails_100(task, learner, rung, seed):
        if task == "adding" and learner == "lstm" and rung == 100:
            return {"ratio": 0.002, "acc": 0.995}  # 13 of 2,560 wrong: not Hochreiter's "solved"
        return as_published(task, learner, rung, seed)

    records = folder_records(lstm_fails_100)
    row = rows_of(records)[("2", "lstm")]
    assert row.agreement is A.DISAGREES and row.facts["setting"] == "T = 100"
    assert rows_of(records)[("1a", "lstm")].agreement is A.NOT_COMPARABLE  # MSE far below the baseline: Bai's pass
    short = [dataclasses.replace(r, spec={**r.spec, "steps": 200}) for r in records]  # a --steps 200 trial
    row = rows_of(short)[("2", "lstm")]
    assert row.agreement is A.NOT_COMPARABLE and row.reason == "budget"


def test_an_unmeasured_point_is_not_comparable():
    def no_mamba(task, learner, rung, seed):
        return None if learner == "mamba" else as_published(task, learner, rung, seed)

    rows = rows_of(folder_records(no_mamba))
    assert rows[("3", "mamba (S6, selective)")].agreement is A.NOT_COMPARABLE
    assert rows[("3", "mamba (S6, selective)")].reason == "not_measured"


def table1(decays):
    return pd.DataFrame([{"learner": lab, "name": lab.split("[")[0], "decay_rate": d, "gradient_reach": 63,
                          "n_ref": 64, "flops_slope_n": 1.0, "theory_slope_n": 1.0, "latency_slope_n": 0.9}
                         for lab, d in decays.items()])


def test_the_path_length_order_agrees_disagrees_or_cannot_be_read():
    claim = next(c for c in CLAIMS if c.id == "5")
    ev = evidence([], PLAN, SUITE.seeds, table1({"transformer": 0.0, "tcn": 0.04, "rnn": 0.26, "lstm": 0.06,
                                                  "gru": 0.18}))
    assert [r.agreement for r in by_path_order(claim, ev)] == [A.AGREES] * 3
    ev.table1 = table1({"transformer": 0.0, "tcn": 0.07, "rnn": 0.26, "lstm": 0.06, "gru": 0.18})
    assert [r.agreement for r in by_path_order(claim, ev)] == [A.AGREES, A.DISAGREES, A.DISAGREES]
    ev.table1 = table1({"transformer": 0.0, "rnn": 0.26})
    assert [r.agreement for r in by_path_order(claim, ev)] == [A.NOT_COMPARABLE] * 3


def test_wilson_intervals_match_the_reference_values_and_reject_bad_counts():
    assert [round(x, 2) for x in wilson(3, 3)] == [0.44, 1.0]
    assert [round(x, 2) for x in wilson(5, 5)] == [0.57, 1.0]
    assert [round(x, 2) for x in wilson(0, 3)] == [0.0, 0.56]
    lo, hi = wilson(1, 2)
    assert lo < 0.5 < hi and abs((lo + hi) / 2 - 0.5) < 1e-12
    for k, n in ((4, 3), (-1, 3), (0, 0), (1.0, 2)):
        with pytest.raises(ReachError):
            wilson(k, n)


def test_escalations_and_extra_seeds_are_kept_out_of_the_rules_and_shown_beside_them():
    def lstm_fails_100(task, learner, rung, seed):
        if task == "adding" and learner == "lstm" and rung == 100:
            return {"ratio": 0.002, "acc": 0.995}
        return as_published(task, learner, rung, seed)

    records = folder_records(lstm_fails_100)
    failed = [r for r in records if r.label == "lstm" and r.task == "adding" and r.distance == 100]
    escalated = [dataclasses.replace(r, id=r.id + "x4", outcome=Outcome.SOLVED, test_accuracy=1.0, steps_to_solve=9000,
                                     spec={**r.spec, "continues": r.id, "steps": 4 * r.spec["steps"]})
                 for r in failed]
    extra = dataclasses.replace(failed[0], id="extra", spec={**failed[0].spec, "seed": 7})
    assert not is_primary(escalated[0], SUITE.seeds) and not is_primary(extra, SUITE.seeds)
    assert is_primary(failed[0], SUITE.seeds)
    ev = evidence(records + escalated + [extra], PLAN, SUITE.seeds)
    assert rows_of(records + escalated + [extra])[("2", "lstm")].agreement is A.DISAGREES  # primary runs decide
    ext = extensions(records + escalated + [extra], ev.runs, SUITE.seeds)
    assert sorted(ext.kind) == ["escalated"] * 3 + ["extra seed"]
    lstm100 = next(s for s in success_table(ev) if s.learner == "lstm" and s.setting == "T = 100")
    assert (lstm100.solved, lstm100.seeds, lstm100.extended, lstm100.extended_solved) == (0, 3, 4, 3)
    assert lstm100.published == 74_000 and lstm100.high == pytest.approx(wilson(0, 3)[1])


def test_more_budget_is_read_by_the_claims_metric_and_named_when_it_passes(tmp_path):
    """Bai et al.'s TCN on adding at the base budget: MSE at the baseline in every seed (disagrees); continued to 4x
    the steps, MSE at 0.002 x baseline but accuracy short of the study's solve threshold, so no run is *solved*: the
    claim's metric (MSE <= 0.1 x baseline) passes all three, and the sentence says the base budget binds."""
    def tcn_fails(task, learner, rung, seed):
        if task == "adding-bai" and learner == "tcn":
            return {"ratio": 1.0}
        return as_published(task, learner, rung, seed)

    records = folder_records(tcn_fails)
    failed = [r for r in records if r.label == "tcn" and r.task == "adding"]  # adding-bai: the tcn's only adding
    assert len(failed) == 3
    more = [dataclasses.replace(r, id=r.id[:8] + "more", outcome=Outcome.UNSOLVED, test_accuracy=0.9,
                                test_loss=0.002 * r.baseline_loss, spec={**r.spec, "continues": r.id})
            for r in failed]
    rows = rows_of(records + more)
    row = rows[("1a", "tcn")]
    assert row.agreement is A.DISAGREES  # the base budget's runs decide
    (cell,) = row.facts["cells"]
    assert (cell.extended, cell.extended_solved, cell.extended_passed) == (3, 0, 3)
    assert cell.extended_figure == pytest.approx(0.002)
    folder = write_folder(tmp_path / "lit", records + more)
    build_report(folder)
    line = next(x for x in (folder / "summary.md").read_text().splitlines() if x.startswith("| 1a · tcn"))
    assert "with more budget or seeds: 3 of 3 ≤ 0.1 × baseline (0.002 × baseline)" in line
    assert "With more budget or seeds, 3 of 3 runs pass T = 100: there the base budget binds" in line
    # where the larger budget does not pass either, nothing is claimed for it
    worse = [dataclasses.replace(m, test_loss=0.9 * m.baseline_loss) for m in more]
    (cell,) = rows_of(records + worse)[("1a", "tcn")].facts["cells"]
    assert cell.extended_passed == 0
    folder = write_folder(tmp_path / "lit2", records + worse)
    build_report(folder)
    assert "the base budget binds" not in (folder / "summary.md").read_text()


def test_sequences_to_success_are_steps_to_solve_times_the_batch():
    ev = evidence(folder_records(as_published), PLAN, SUITE.seeds)
    table = {(s.learner, s.setting): s for s in success_table(ev)}
    assert table[("lstm", "T = 100")].median == 2000 * 16 and table[("lstm", "T = 50")].fewest == 800 * 16
    assert table[("rnn", "T = 50")].solved == 0 and table[("rnn", "T = 100")].trained == 0


def test_a_task_entry_names_the_learners_that_run_it():
    data = copy.deepcopy(BUILTIN_SUITES["literature"])
    data["tasks"][0]["learners"] = ["lstm", "nosuch"]
    with pytest.raises(ReachError, match="nosuch"):
        Suite.from_dict(data, where="test")
    data["tasks"][0]["learners"] = "lstm"
    with pytest.raises(ReachError, match="'learners' must be"):
        Suite.from_dict(data, where="test")
    trimmed = SUITE.override(learners=["lstm", "mamba"], seeds=[0])
    assert {(c.task, c.learner) for c in trimmed.plan()} == {("adding", "lstm"), ("copy", "lstm"),
                                                              ("selective-copy", "mamba[lr=0.001]"),
                                                              ("selective-copy", "mamba[lr=0.01]")}
    assert {t["name"] for t in SUITE.override(learners=["tcn"]).tasks} == {"adding", "copy"}  # no MQAR left


def write_folder(path, records):
    path.mkdir(parents=True, exist_ok=True)
    (path / "suite.toml").write_text(SUITE.to_toml())
    (path / "runs.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    (path / "env.json").write_text(json.dumps({"suite": "literature", "sessions": []}))
    return path


def test_the_report_and_summary_carry_the_claim_table(tmp_path):
    folder = write_folder(tmp_path / "lit", folder_records(as_published))
    html = build_report(folder).read_text()
    assert 'id="literature"' in html and 'href="#literature"' in html
    section = html.split('id="literature"', 1)[1].split("</section>", 1)[0]
    assert section.count("<tr><td><b>") == len(claim_rows(evidence(folder_records(as_published), PLAN,
                                                                   SUITE.seeds)))
    assert "Hochreiter &amp; Schmidhuber 1997, Table 7" in section and "74,000" in section
    assert "not comparable at this scale" in section and "What differs from the paper" in section
    summary = (folder / "summary.md").read_text()
    assert "| claim | source | published (settings) | measured (settings) | agrees? |" in summary
    assert "| lstm | T = 100 | 3/3 [0.44, 1.00] | 32,000 | 80,000 | 74,000 |" in summary


def test_other_suites_reports_have_no_literature_section(tmp_path):
    records = folder_records(as_published)
    folder = write_folder(tmp_path / "other", records)
    data = SUITE.to_dict()
    data["name"] = "not-literature"
    (folder / "suite.toml").write_text(Suite.from_dict(data, where="t").to_toml())
    html = build_report(folder).read_text()
    assert 'id="literature"' not in html and 'href="#literature"' not in html


def test_compare_gates_a_claim_that_stopped_agreeing(tmp_path):
    good = folder_records(as_published)

    def tcn_fails(task, learner, rung, seed):
        if task == "copy" and learner in ("tcn", "gru"):
            return {"ratio": 0.9 if learner == "tcn" else 0.01}  # the tcn fails where the gru passes
        return as_published(task, learner, rung, seed)

    table, regressions = compare_claims(good, folder_records(tcn_fails), PLAN, PLAN, "literature", "literature")
    assert regressions == ["claim 1b (tcn) agreed with Bai, Kolter & Koltun 2018, Table 1 in BASE and disagrees in "
                           "NEW"]
    assert compare_claims(good, good, PLAN, PLAN, "literature", "literature")[1] == []
    assert compare_claims(good, good, PLAN, PLAN, "long-range", "literature") is None


def test_groups_reject_an_unknown_expectation():
    with pytest.raises(ReachError):
        Group("x", ("lstm",), "maybe", "")
    with pytest.raises(ReachError):
        Group("x", (), SOLVES, "")
    assert Point("adding", 50, "T = 50").as_hard is False and FAILS != SOLVES


def test_a_learner_run_at_two_rates_is_judged_at_the_one_with_the_better_validation_never_the_test():
    records = []
    for r in folder_records(as_published):
        if r.task == "recall" and r.label.startswith("transformer"):
            val, test = (0.99, 0.2) if r.spec["lr"] == 1e-3 else (0.3, 1.0)  # the test would pick lr 1e-2
            r = dataclasses.replace(r, test_accuracy=test, curve=[{"step": 800, "val_accuracy": val}],
                                    outcome=Outcome.SOLVED if test >= 0.99 else Outcome.UNSOLVED)
        records.append(r)
    rows = rows_of(records)
    row = rows[("4", "attention")]
    assert row.facts["learner"] == "transformer[lr=0.001]"
    assert [c["label"] for c in row.facts["candidates"]] == ["transformer[lr=0.001]", "transformer[lr=0.01]"]
    assert row.agreement is A.DISAGREES  # its test accuracy at the chosen rate is 0.2, where the lru passes (64, 4)
    assert rows[("4", "lru (fixed state)")].facts["others"] == []  # no other learner passes (128, 8) ...
    assert rows[("4", "lru (fixed state)")].agreement is A.NOT_COMPARABLE  # ... so its failure there cannot count
