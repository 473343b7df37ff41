"""Config: dataset defaults, typed overrides, unknown keys, impossible values, run ids, `config show`."""

import json

import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.config import RunConfig, _all_keys, build_config, describe_settings, parse_overrides, set_value
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
        ("train.batching", "bucketed", "train.batching must be one of padded, by-length"),
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


def test_every_setting_says_what_it_means():
    rows = describe_settings(RunConfig())
    assert [row["key"] for row in rows] == _all_keys()
    assert all(len(row["meaning"]) > 10 for row in rows)


def settings_shown(*args: str) -> dict[str, dict]:
    result = CliRunner().invoke(cli, ["config", "show", "--json", *args])
    assert result.exit_code == 0, result.output
    return {row["key"]: row for row in json.loads(result.output)}


def test_config_show_gives_each_value_its_source():
    plain = settings_shown()
    assert plain["model.nz"] | {"section": None} == {
        "key": "model.nz", "value": 32, "default": 32, "source": "default", "section": None,
        "meaning": "latent size: units of z"}
    shown = settings_shown("--dataset", "synthetic", "--remedy", "bn-vae")
    assert (shown["model.nz"]["value"], shown["model.nz"]["source"]) == (2, "dataset")
    assert (shown["model.init"]["value"], shown["model.init"]["source"]) == ("pytorch-encoder", "remedy")
    assert (shown["remedy"]["value"], shown["remedy"]["source"]) == ("bn-vae(authors_init=true,gamma=0.5)",
                                                                     "remedy")
    assert shown["eval.iw_samples"]["source"] == "default"


def test_config_show_prints_sections_and_names_a_changed_default():
    result = CliRunner().invoke(cli, ["config", "show", "--dataset", "synthetic"])
    assert result.exit_code == 0
    assert "[model] Sizes of the sentence VAE" in result.output
    line = next(line for line in result.output.splitlines() if line.strip().startswith("model.nz "))
    assert line.split()[:3] == ["model.nz", "2", "dataset"] and line.endswith("(default 32)")


def test_config_show_of_an_unknown_dataset_is_one_line_exit_2():
    result = CliRunner().invoke(cli, ["config", "show", "--dataset", "ptbb"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "Did you mean 'ptb'" in result.output


def test_settings_added_later_leave_the_run_ids_of_runs_stored_before_alone():
    """Pinned: the ids these configs had before text_column, label_column, sha256, labelled and batching
    existed. Those runs cut padded batches; the new default (He et al.'s by-length) is a new run id."""
    padded = {"train.batching": "padded"}
    ids = {dataset: build_config(dataset, "none", 0, padded).run_id()
           for dataset in ("synthetic", "ptb-small", "yelp-short", "yahoo")}
    assert ids == {"synthetic": "d0cceaee9405", "ptb-small": "1f4a5cdfb900", "yelp-short": "cefb84d609ac",
                   "yahoo": "7641db2e6829"}
    assert "text_column" not in build_config("synthetic", "none", 0, padded).to_dict()["data"]
    changed = build_config("synthetic", "none", 0, {**padded, "data.text_column": "review"})
    assert changed.to_dict()["data"]["text_column"] == "review"
    assert RunConfig.from_dict(changed.to_dict()).run_id() == changed.run_id() != ids["synthetic"]


def test_a_config_json_without_a_later_setting_reads_back_as_what_those_runs_did():
    by_length = build_config("ptb-small", "none", 0, {})
    assert by_length.train.batching == "by-length" and by_length.run_id() != "1f4a5cdfb900"
    stored_before = by_length.to_dict()
    del stored_before["train"]["batching"]
    assert RunConfig.from_dict(stored_before).train.batching == "padded"
    assert RunConfig.from_dict(stored_before).run_id() == "1f4a5cdfb900"
    assert RunConfig.from_dict(by_length.to_dict()).run_id() == by_length.run_id()
