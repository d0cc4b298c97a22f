"""The report's "Train short, test long": the per-ratio table with the seed spread, "not defined" shown as such,
the largest ratio kept at 0.99 and 0.5, the figure, and the sentences beside Gu & Dao's Table 11 (facts from
harness.report.extrapolation, sentences from templates/extrapolation.j2)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pandas as pd
import pytest

from harness.config.suites import Suite
from harness.report import extrapolation as ext
from harness.report.html import build_report, environments, sentence
from harness.run.executors import InProcessExecutor
from harness.run.sweep import run_suite

SUITE = {
    "name": "extrapolation-test", "seeds": [0, 1], "prune": False,
    "defaults": {"d_model": 8, "n_layers": 1, "steps": 6, "eval_every": 3, "batch_size": 4, "val_batches": 1,
                 "test_batches": 1, "warmup_steps": 0, "length_factors": [1, 2, 4]},
    "learners": [{"name": "gru"}, {"name": "transformer", "options": {"positions": "learned", "heads": 2}},
                 {"name": "mamba", "options": {"expand": 1, "state": 2}}],
    "tasks": [{"name": "induction", "distances": [6], "seq_len": 8, "params": {"min_gap": 2}},
              {"name": "hold", "distances": [4]}],
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("ext") / "results"
    run_suite(Suite.from_dict(SUITE, where="test"), out, InProcessExecutor(), "pytest")
    html = build_report(out).read_text(encoding="utf-8")
    return out, html, (out / "summary.md").read_text(encoding="utf-8")


def test_the_section_shows_every_ratio_with_the_seed_spread_and_not_defined(report):
    out, html, _ = report
    section = html.split('<section id="extrapolation">', 1)[1].split("</section>", 1)[0]
    assert section.count("accuracy by test length ÷ training length</h3>") == 2  # hold and induction
    assert "L = 8" in section and "L = 32" in section and "L = 5" in section and "L = 17" in section
    rows = re.findall(r'<tr><td class="lab">.*?</tr>', section)
    assert len(rows) == 6  # three learners, two tasks
    learned = [r for r in rows if "</span>transformer</td>" in r]  # the one transformer: learned positions
    assert len(learned) == 2 and all(r.count(">not defined<") == 2 for r in learned)  # at 2x and 4x, never a 0
    assert all("exceeds max_len" in r for r in learned)  # the reason, on hover
    assert re.search(r"\d\.\d\d \(\d\.\d\d–\d\.\d\d\)", section)  # mean (lowest–highest) over the two seeds
    assert (out / "figures" / "extrapolation.png").read_bytes()[:4] == b"\x89PNG"
    assert 'alt="Figure' in section and "Train short, test long: accuracy against test length" in section


def test_the_sentences_set_each_family_beside_table_11(report):
    _, html, summary = report
    section = html.split('<section id="extrapolation">', 1)[1].split("</section>", 1)[0]
    assert "Beside Gu &amp; Dao 2023, Appendix Table 11 (induction)" in section
    assert ("transformer is not defined past 1× (its learned table of positions ends at the training length; Table "
            "11's MHA-Abs, whose positions were not such a table, kept 58.6%/26.6% at 2×/4×)") in section
    assert "mamba scores 0.0%/0.0% at 2×/4× where Gu & Dao's Mamba kept 100.0%/100.0%: disagreeing" in section
    assert "Recurrent: Table 11 has no recurrent learner. Here: gru 0.0%/0.0% at 2×/4× (keeps 0.99 nowhere" in section
    assert "Not in this folder: MHA-RoPE. Not measured: MHA-xPos, not among reach's learners." in section
    assert "Not measured: H3, not among reach's learners (lru is" in section
    assert "trained at length 8 (they: 256) and tested up to 4×" in section
    assert "vocabulary 16 (the same, chance 6.2%)" in section
    assert "### Train short, test long" in summary and "| induction | 1× | 2× | 4× |" in summary


def cells(rows: list[tuple[int, int, int, float]], seeds: int = 3) -> pd.DataFrame:
    """(factor, seeds >= 0.99, seeds >= 0.5, mean) -> length_cells' shape for one learner on one task."""
    return pd.DataFrame([{"task": "t", "label": "l", "factor": f, "seq_len": 8 * f, "seeds": seeds,
                          "scored": seeds if mean == mean else 0, "not_defined": 0 if mean == mean else seeds,
                          "reason": None, "mean": mean, "min": mean, "max": mean, "at_least_99": a, "at_least_50": b}
                         for f, a, b, mean in rows])


def test_kept_is_the_largest_ratio_up_to_which_a_majority_of_seeds_holds_the_level():
    c = cells([(1, 3, 3, 1.0), (2, 2, 3, 0.99), (4, 1, 3, 0.9), (8, 0, 2, 0.6), (16, 0, 1, 0.3)])
    assert ext.kept(c, 0.99) == {("t", "l"): 2} and ext.kept(c, 0.5) == {("t", "l"): 8}
    again = cells([(1, 3, 3, 1.0), (2, 0, 1, 0.3), (4, 3, 3, 1.0)])  # held again past a failure: does not count
    assert ext.kept(again, 0.99) == {("t", "l"): 1}
    undefined = cells([(1, 3, 3, 1.0), (2, 0, 0, float("nan"))])  # not defined at 2x is not kept
    assert ext.kept(undefined, 0.5) == {("t", "l"): 1}
    assert ext.kept(cells([(1, 1, 1, 0.4), (2, 0, 0, 0.1)]), 0.5) == {("t", "l"): 0}


def test_a_family_sentence_says_where_the_bands_agree():
    env = environments()[0]
    pair = {"label": "transformer[positions=rotary]", "row": "MHA-RoPE", "ours": [(2, 0.98), (4, 0.68), (16, 0.21)],
            "theirs": [(2, 0.836), (4, 0.313), (16, 0.086)], "agree": [4], "disagree": [2, 16],
            "kept99": 1, "kept50": 4, "not_defined": [], "defined": True}
    text = sentence(env, "extrapolation.j2", "family",
                    {"family": "attention", "pairs": [pair], "others": [], "absent": [], "missing": ["MHA-xPos"]})
    assert text.startswith("Attention: transformer[positions=rotary] scores 98.0%/68.0%/21.0% at 2×/4×/16× where "
                           "Gu & Dao's MHA-RoPE kept 83.6%/31.3%/8.6%: agreeing at 4×, not at 2×, 16×.")
    assert text.endswith("Not measured: MHA-xPos, not among reach's learners.")
    assert ext._band(0.98, 1 / 16) == "kept" and ext._band(0.836, 1 / 16) == "between"
    assert ext._band(0.125, 1 / 16) == "chance" and ext._band(0.126, 1 / 16) == "between"
    facts = SimpleNamespace(family="recurrent", pairs=[], missing=[], absent=[],
                            others=[{"label": "gru", "ours": [(2, 0.5)], "kept99": 0, "kept50": 2, "not_defined": []}])
    assert sentence(env, "extrapolation.j2", "family", facts) == (
        "Recurrent: Table 11 has no recurrent learner. Here: gru 50.0% at 2× (keeps 0.99 nowhere, 0.5 to 2×).")
