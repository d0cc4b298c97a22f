import re

import pytest

from harness.config.spec import RunSpec, make_task, parse_options
from harness.errors import ReachError


def spec(**kw):
    base = {"task": "lag", "distance": 4, "learner": "tcn"}
    base.update(kw)
    return RunSpec.from_dict(base)


def test_id_is_content_hash_and_ignores_threads():
    a, b = spec(), spec()
    assert a.id == b.id and len(a.id) == 12
    assert spec(seed=1).id != a.id
    assert spec(learner_options={"kernel_size": 3}).id != a.id
    assert spec(threads=2).id == a.id  # execution detail, not content


def test_unknown_key_names_nearest():
    with pytest.raises(ReachError, match=r"^run spec: unknown key 'lerner' \(did you mean 'learner'\?\)$"):
        RunSpec.from_dict({"task": "lag", "distance": 4, "lerner": "tcn"})


@pytest.mark.parametrize("field,value,message", [
    ("steps", 0, "steps must be >= 1, got 0"), ("lr", -1.0, "lr must be > 0, got -1.0"),
    ("schedule", "linear", "schedule must be one of cosine, constant, got 'linear'"),
    ("device", "tpu", "device must be one of cpu, cuda, auto, got 'tpu'"),
    ("batch_size", 1.5, "batch_size must be an integer, got 1.5"),
    ("solve_threshold", 1.5, "solve_threshold must be in (0, 1], got 1.5"),
])
def test_bad_values_rejected_with_field_named(field, value, message):
    with pytest.raises(ReachError, match=f"^run spec: {re.escape(message)}$"):
        spec(**{field: value})


def test_unknown_learner_option_and_task_param_rejected():
    # each message names the culprit and the nearest valid name, not merely the list of valid ones
    with pytest.raises(ReachError, match=r"^learner 'tcn' has no option 'window'; valid options: "):
        spec(learner="tcn", learner_options={"window": 3})
    with pytest.raises(ReachError, match=r"^task 'lag' has no parameter 'vocabb' \(did you mean 'vocab'\?\); valid: "):
        spec(task_params={"vocabb": 3})
    with pytest.raises(ReachError, match=r"^unknown learner 'lsmt'; did you mean 'lstm'\? \(known: "):
        spec(learner="lsmt")


def test_seq_len_fills_free_length_and_rejects_too_short():
    assert make_task("lag", 8, {}, seq_len=40).seq_len == 40
    assert make_task("induction", 8, {}, seq_len=20).seq_len == 20
    with pytest.raises(ReachError, match=re.escape("distance 64 is longer than the sequence (--seq-len 32)")):
        make_task("lag", 64, {}, seq_len=32)
    with pytest.raises(ReachError, match=re.escape("task 'copy' has a sequence length fixed by its distance and "
                                                   "parameters; drop --seq-len")):
        make_task("copy", 8, {}, seq_len=100)


def test_parse_options():
    assert parse_options(["window=16", "positions=rotary", "dropout=0.1", "flag=true"]) == {
        "window": 16, "positions": "rotary", "dropout": 0.1, "flag": True}
    for bad in (["window"], ["=3"], ["window="]):
        with pytest.raises(ReachError, match=f"^--opt {re.escape(repr(bad[0]))} is malformed"):
            parse_options(bad)
