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
    with pytest.raises(ReachError, match="unknown key 'learnng_rate'|unknown key 'lerner'.*learner"):
        RunSpec.from_dict({"task": "lag", "distance": 4, "lerner": "tcn"})


@pytest.mark.parametrize("field,value,needle", [
    ("steps", 0, "steps"), ("lr", -1.0, "lr"), ("schedule", "linear", "schedule"),
    ("device", "tpu", "device"), ("batch_size", 1.5, "batch_size"), ("solve_threshold", 1.5, "solve_threshold"),
])
def test_bad_values_rejected_with_field_named(field, value, needle):
    with pytest.raises(ReachError, match=needle):
        spec(**{field: value})


def test_unknown_learner_option_and_task_param_rejected():
    with pytest.raises(ReachError, match="window"):
        spec(learner="tcn", learner_options={"window": 3})
    with pytest.raises(ReachError, match="vocabb|vocab"):
        spec(task_params={"vocabb": 3})
    with pytest.raises(ReachError, match="unknown learner 'lsmt'.*lstm"):
        spec(learner="lsmt")


def test_seq_len_fills_free_length_and_rejects_too_short():
    assert make_task("lag", 8, {}, seq_len=40).seq_len == 40
    with pytest.raises(ReachError, match="longer than the sequence"):
        make_task("lag", 64, {}, seq_len=32)
    with pytest.raises(ReachError, match="drop --seq-len"):
        make_task("copy", 8, {}, seq_len=100)


def test_parse_options():
    assert parse_options(["window=16", "positions=rotary", "dropout=0.1", "flag=true"]) == {
        "window": 16, "positions": "rotary", "dropout": 0.1, "flag": True}
    for bad in (["window"], ["=3"], ["window="]):
        with pytest.raises(ReachError, match="malformed"):
            parse_options(bad)
