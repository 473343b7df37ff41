"""Config: dataset defaults, typed overrides, unknown keys, impossible values, run ids."""

import pytest

from bench.config import RunConfig, build_config, parse_overrides, set_value
from bench.errors import ConfigError


def test_dataset_defaults_follow_the_papers():
    cfg = build_config("synthetic", "none", 0, {})
    assert (cfg.model.nz, cfg.model.emb, cfg.model.dec_hidden, cfg.train.batch_size) == (2, 50, 50, 16)
    cfg = build_config("yahoo", "none", 0, {})
    assert (cfg.model.nz, cfg.model.emb, cfg.model.dec_hidden) == (32, 512, 1024)


def test_overrides_are_coerced_to_the_field_type():
    cfg = build_config("synthetic", "none", 0, parse_overrides(["model.nz=16", "model.cnn_dilations=1,2,4,8",
                                                                 "train.lr=0.5"]))
    assert cfg.model.nz == 16
    assert cfg.model.cnn_dilations == (1, 2, 4, 8)
    assert cfg.train.lr == 0.5


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("model.nz", "0", "model.nz must be >= 1"),
        ("train.lr", "0", "train.lr must be > 0"),
        ("eval.iw_samples", "0", "must be >= 1"),
        ("model.dropout_in", "-0.1", "dropout_in"),
        ("eval.max_sentences", "-1", "eval.max_sentences must be >= 0"),
        ("data.train_limit", "-5", "data.train_limit must be >= 0"),
        ("model.nz", "two", "expected int"),
        ("model.init", "xavier", "model.init must be one of reference, pytorch"),
        ("eval.precision", "fp16", "eval.precision must be 'fp32' or 'bf16'"),
    ],
)
def test_impossible_values_are_rejected(key, value, message):
    with pytest.raises(ConfigError, match=message):
        build_config("synthetic", "none", 0, {key: value})


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown setting 'model.nzz'.*model.nz"):
        set_value(RunConfig(), "model.nzz", 3)


def test_override_without_equals_sign_is_an_error():
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["model.nz"])


def test_run_id_depends_on_every_setting_and_nothing_else():
    one = build_config("synthetic", "none", 0, {})
    assert one.run_id() == build_config("synthetic", "none", 0, {}).run_id()
    assert one.run_id() != build_config("synthetic", "none", 1, {}).run_id()
    assert one.run_id() != build_config("synthetic", "none", 0, {"eval.iw_samples": 10}).run_id()


def test_dict_round_trip_keeps_the_run_id():
    cfg = build_config("synthetic", "none", 3, {"model.cnn_dilations": "1,2"})
    assert RunConfig.from_dict(cfg.to_dict()).run_id() == cfg.run_id()
