"""Typed run configuration: defaults per dataset, `--set` overrides, validation.

A run is fully described by a `RunConfig`, made of the sections that
`bench.settings` declares. Its JSON form is what goes into
`config.json`, and its hash is the run id, so every field that changes the
result must live here and nothing else may. config.json also keeps, under
`REMEDY_RECORD`, what resolving the run learnt about its remedy (bench/single_run.py):
not config, so not in the run id.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ConfigError, closest
from bench.settings import (
    BATCHING,
    BN_SCALES,
    INIT_SCHEMES,
    POSTERIORS,
    PRECISIONS,
    DataConfig,
    EvalConfig,
    ModelConfig,
    TrainConfig,
    setting,
)
from bench.syntax import convert


@dataclass
class RunConfig:
    """One cell of a suite: dataset x remedy x seed, with every setting resolved."""

    dataset: str = setting("synthetic", "the dataset the run trains on; set by --dataset")
    remedy: str = setting("none", "canonical remedy spec with every parameter, e.g. "
                                  '"word-dropout(keep=0.5)"; set by --remedy')
    seed: int = setting(0, "seed of model init, dropout, batch order and sampling; set by --seed")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        """Every setting, except added ones (`setting(..., added=True)`) that hold their earlier value."""
        out = dataclasses.asdict(self)
        for section, spec in _added_settings():
            if out[section][spec.name] == spec.metadata["earlier"]:
                del out[section][spec.name]
        return out

    def run_id(self) -> str:
        """Short hash of the resolved config: equal configs share one run folder."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """The config `to_dict` wrote; an added setting it leaves out held its earlier value."""
        cfg = cls()
        for key, value in {**data, **stored_settings(data)}.items():
            if key == REMEDY_RECORD:
                continue
            if isinstance(value, dict):
                for sub, sub_value in value.items():
                    set_value(cfg, f"{key}.{sub}", sub_value)
            else:
                set_value(cfg, key, value)
        return cfg


SECTIONS = ("data", "model", "train", "eval")
REMEDY_RECORD = "remedy_resolved"  # config.json key beside the config: the remedy's parts and settings

# What a dataset records about its own data (`DatasetSpec.identify`): no --set may change it.
RECORDED_DATA_KEYS = ("data.sha256", "data.labelled")


def stored_settings(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The sections of a stored config (config.json), each added setting it leaves out filled in with
    its earlier value: what that run did, so runs stored before and after a setting compare alike."""
    sections = {section: dict(data.get(section, {})) for section in SECTIONS}
    for section, spec in _added_settings():
        sections[section].setdefault(spec.name, copy.deepcopy(spec.metadata["earlier"]))
    return sections


def _added_settings() -> Iterator[tuple[str, dataclasses.Field]]:
    """(section, field) of every setting added after run ids were first stored."""
    for section in dataclasses.fields(RunConfig):
        if section.name in SECTIONS:
            for spec in dataclasses.fields(section.default_factory):
                if spec.metadata["added"]:
                    yield section.name, spec


def describe_settings(cfg: RunConfig) -> list[dict[str, Any]]:
    """Every setting of `cfg` by its `--set` key, in declaration order: its value, its default
    before any dataset or remedy, its section's description and its meaning (from the field)."""
    plain = RunConfig()
    rows = []
    for name in ("", *SECTIONS):
        values, defaults = (getattr(cfg, name), getattr(plain, name)) if name else (cfg, plain)
        section = (type(values).__doc__ or "").strip().splitlines()[0]
        for item in dataclasses.fields(values):
            if item.name not in SECTIONS:
                rows.append({"key": f"{name}.{item.name}" if name else item.name,
                             "value": getattr(values, item.name), "default": getattr(defaults, item.name),
                             "section": section, "meaning": item.metadata["meaning"]})
    return rows


def _field_type(section: Any, name: str) -> Any:
    return _type_hints(type(section))[name]


@functools.cache
def _type_hints(section_class: type) -> dict[str, Any]:
    """A section's field types, resolved once: resolving them is most of the time a suite takes to expand."""
    return typing.get_type_hints(section_class)


def set_value(cfg: RunConfig, key: str, value: Any) -> None:
    """Set `section.field` (or a top-level field) on `cfg`; unknown keys are errors."""
    parts = key.split(".")
    if len(parts) == 1:
        top = [f.name for f in dataclasses.fields(cfg) if f.name not in SECTIONS]
        if key not in top:
            raise ConfigError(f"unknown setting '{key}'.{closest(key, _all_keys())}")
        setattr(cfg, key, convert(value, _field_type(cfg, key), key))
        return
    if len(parts) != 2 or parts[0] not in SECTIONS:
        raise ConfigError(
            f"unknown setting '{key}': use section.field with section one of "
            f"{', '.join(SECTIONS)}.{closest(key, _all_keys())}"
        )
    section = getattr(cfg, parts[0])
    names = [f.name for f in dataclasses.fields(section)]
    if parts[1] not in names:
        raise ConfigError(f"unknown setting '{key}'.{closest(key, _all_keys())}")
    setattr(section, parts[1], convert(value, _field_type(section, parts[1]), key))


def _all_keys() -> list[str]:
    cfg = RunConfig()
    keys = [f.name for f in dataclasses.fields(cfg) if f.name not in SECTIONS]
    for name in SECTIONS:
        keys += [f"{name}.{f.name}" for f in dataclasses.fields(getattr(cfg, name))]
    return keys


def changed_settings(before: RunConfig, after: RunConfig) -> dict[str, Any]:
    """`section.key` -> value for every setting that `after` changes (what a remedy's `configure` set)."""
    old, new = before.to_dict(), after.to_dict()
    return {f"{section}.{key}": value for section in SECTIONS for key, value in new[section].items()
            if old[section].get(key) != value}


def parse_overrides(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`["model.nz=16", ...]` -> `{"model.nz": "16"}`; a pair without '=' is an error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value (e.g. model.nz=16), got '{pair}'")
        out[key.strip()] = value.strip()
    return out


def validate(cfg: RunConfig) -> None:
    """Reject impossible values before any work starts."""
    checks: list[tuple[bool, str]] = [
        (cfg.model.nz >= 1, f"model.nz must be >= 1, got {cfg.model.nz}"),
        (cfg.model.emb >= 1, f"model.emb must be >= 1, got {cfg.model.emb}"),
        (cfg.model.enc_hidden >= 1, f"model.enc_hidden must be >= 1, got {cfg.model.enc_hidden}"),
        (cfg.model.dec_hidden >= 1, f"model.dec_hidden must be >= 1, got {cfg.model.dec_hidden}"),
        (0 <= cfg.model.dropout_in < 1, f"model.dropout_in must be in [0, 1), got {cfg.model.dropout_in}"),
        (0 <= cfg.model.dropout_out < 1,
         f"model.dropout_out must be in [0, 1), got {cfg.model.dropout_out}"),
        (cfg.model.decoder in ("lstm", "cnn"),
         f"model.decoder must be 'lstm' or 'cnn', got '{cfg.model.decoder}'"),
        (len(cfg.model.cnn_dilations) > 0 and all(d >= 1 for d in cfg.model.cnn_dilations),
         f"model.cnn_dilations must be positive integers, got {cfg.model.cnn_dilations}"),
        (cfg.model.cnn_channels >= 1, f"model.cnn_channels must be >= 1, got {cfg.model.cnn_channels}"),
        (cfg.model.bn_gamma >= 0, f"model.bn_gamma must be >= 0, got {cfg.model.bn_gamma}"),
        (cfg.model.bn_scale in BN_SCALES,
         f"model.bn_scale must be one of {', '.join(BN_SCALES)}, got '{cfg.model.bn_scale}'"),
        (cfg.model.var_floor >= 0, f"model.var_floor must be >= 0, got {cfg.model.var_floor}"),
        (0 <= cfg.model.var_dropout < 1, f"model.var_dropout must be in [0, 1), got {cfg.model.var_dropout}"),
        (cfg.model.var_floor > 0 or cfg.model.var_dropout == 0,
         "model.var_dropout needs model.var_floor > 0: a dropped variance would be 0"),
        (cfg.model.delta_kl >= 0, f"model.delta_kl must be >= 0, got {cfg.model.delta_kl}"),
        (cfg.model.delta_kl == 0 or not (cfg.model.bn_gamma or cfg.model.var_floor or cfg.model.var_dropout),
         "model.delta_kl sets mu and sigma itself: it cannot be combined with model.bn_gamma, "
         "model.var_floor or model.var_dropout (delta-vae with bn-vae or du-vae)"),
        (cfg.model.posterior in POSTERIORS,
         f"model.posterior must be one of {', '.join(POSTERIORS)}, got '{cfg.model.posterior}'"),
        (cfg.model.vmf_kappa > 0, f"model.vmf_kappa must be > 0, got {cfg.model.vmf_kappa}"),
        (cfg.model.vmf_draws >= 1, f"model.vmf_draws must be >= 1, got {cfg.model.vmf_draws}"),
        (cfg.model.posterior == "vmf" or cfg.model.vmf_draws == 1,
         "model.vmf_draws averages vMF draws: it needs model.posterior = \"vmf\""),
        (cfg.model.posterior != "vmf" or cfg.model.nz >= 2,
         f"model.posterior = \"vmf\" needs model.nz >= 2 (a sphere S^(nz-1)), got {cfg.model.nz}"),
        (cfg.model.posterior != "vmf"
         or not (cfg.model.bn_gamma or cfg.model.var_floor or cfg.model.var_dropout or cfg.model.delta_kl),
         "model.posterior = \"vmf\" has no variance or Gaussian mean to shape: it cannot be combined with "
         "model.bn_gamma, model.var_floor, model.var_dropout or model.delta_kl (vmf with bn-vae, du-vae or "
         "delta-vae)"),
        (cfg.model.posterior != "vmf" or not cfg.train.gap_sentences,
         "train.gap_sentences: the amortisation gap optimises a Gaussian q(z|x); it cannot measure "
         "model.posterior = \"vmf\""),
        (cfg.train.gap_sentences >= 0,
         f"train.gap_sentences must be >= 0 (0: off), got {cfg.train.gap_sentences}"),
        (cfg.train.gap_steps >= 1, f"train.gap_steps must be >= 1, got {cfg.train.gap_steps}"),
        (cfg.train.gap_samples >= 1, f"train.gap_samples must be >= 1, got {cfg.train.gap_samples}"),
        (cfg.train.gap_lr > 0, f"train.gap_lr must be > 0, got {cfg.train.gap_lr}"),
        (cfg.train.min_batch >= 1, f"train.min_batch must be >= 1, got {cfg.train.min_batch}"),
        (cfg.model.bow_hidden >= 0, f"model.bow_hidden must be >= 0, got {cfg.model.bow_hidden}"),
        (not cfg.model.dec_skip or cfg.model.decoder == "lstm",
         f"model.dec_skip feeds z to the LSTM decoder's output layer; it needs model.decoder = \"lstm\", "
         f"got '{cfg.model.decoder}'"),
        (cfg.model.init in INIT_SCHEMES,
         f"model.init must be one of {', '.join(INIT_SCHEMES)}, got '{cfg.model.init}'"),
        (cfg.train.optimizer in ("sgd", "adam"),
         f"train.optimizer must be 'sgd' or 'adam', got '{cfg.train.optimizer}'"),
        (cfg.train.lr > 0, f"train.lr must be > 0, got {cfg.train.lr}"),
        (cfg.train.momentum >= 0, f"train.momentum must be >= 0, got {cfg.train.momentum}"),
        (cfg.train.clip > 0, f"train.clip must be > 0, got {cfg.train.clip}"),
        (cfg.train.batch_size >= 1, f"train.batch_size must be >= 1, got {cfg.train.batch_size}"),
        (cfg.train.batching in BATCHING,
         f"train.batching must be one of {', '.join(BATCHING)}, got '{cfg.train.batching}'"),
        (cfg.train.epochs >= 1, f"train.epochs must be >= 1, got {cfg.train.epochs}"),
        (0 < cfg.train.lr_decay <= 1, f"train.lr_decay must be in (0, 1], got {cfg.train.lr_decay}"),
        (cfg.train.max_decays >= 0, f"train.max_decays must be >= 0, got {cfg.train.max_decays}"),
        (cfg.train.diag_every >= 0, f"train.diag_every must be >= 0, got {cfg.train.diag_every}"),
        (cfg.train.diag_batch >= 2, f"train.diag_batch must be >= 2, got {cfg.train.diag_batch}"),
        (cfg.train.snapshot_every >= 0,
         f"train.snapshot_every must be >= 0, got {cfg.train.snapshot_every}"),
        (cfg.train.precision in PRECISIONS,
         f"train.precision must be 'fp32' or 'bf16', got '{cfg.train.precision}'"),
        (cfg.eval.precision in PRECISIONS,
         f"eval.precision must be 'fp32' or 'bf16', got '{cfg.eval.precision}'"),
        (cfg.train.device.split(":")[0] in ("cpu", "cuda"),
         f"train.device must be 'cpu' or 'cuda', got '{cfg.train.device}'"),
        (cfg.train.threads >= 0, f"train.threads must be >= 0, got {cfg.train.threads}"),
        (cfg.eval.split in ("valid", "test"),
         f"eval.split must be 'valid' or 'test', got '{cfg.eval.split}'"),
        (cfg.eval.iw_samples >= 1, f"eval.iw_samples (k) must be >= 1, got {cfg.eval.iw_samples}"),
        (cfg.eval.iw_chunk >= 1, f"eval.iw_chunk must be >= 1, got {cfg.eval.iw_chunk}"),
        (cfg.eval.iw_tokens >= 1, f"eval.iw_tokens must be >= 1, got {cfg.eval.iw_tokens}"),
        (cfg.eval.mi_estimator in ("whole", "batch"),
         f"eval.mi_estimator must be 'whole' or 'batch', got '{cfg.eval.mi_estimator}'"),
        (cfg.eval.mi_batch >= 2, f"eval.mi_batch must be >= 2, got {cfg.eval.mi_batch}"),
        (cfg.eval.au_threshold >= 0, f"eval.au_threshold must be >= 0, got {cfg.eval.au_threshold}"),
        (cfg.eval.max_sentences >= 0,
         f"eval.max_sentences must be >= 0, got {cfg.eval.max_sentences}"),
        (cfg.data.train_limit >= 0, f"data.train_limit must be >= 0, got {cfg.data.train_limit}"),
        (cfg.data.max_len >= 1, f"data.max_len must be >= 1, got {cfg.data.max_len}"),
        (cfg.data.vocab_size >= 5, f"data.vocab_size must be >= 5, got {cfg.data.vocab_size}"),
        (cfg.data.synthetic_size >= 10,
         f"data.synthetic_size must be >= 10, got {cfg.data.synthetic_size}"),
        (cfg.data.synthetic_nz in (1, 2), f"data.synthetic_nz must be 1 or 2, got {cfg.data.synthetic_nz}"),
        (cfg.data.synthetic_vocab >= 2,
         f"data.synthetic_vocab must be >= 2, got {cfg.data.synthetic_vocab}"),
        (cfg.data.synthetic_length >= 1,
         f"data.synthetic_length must be >= 1, got {cfg.data.synthetic_length}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def build_config(
    dataset: str, remedy: str, seed: int, overrides: dict[str, Any], base: Path | None = None
) -> RunConfig:
    """The dataset's sizes, then user overrides, then what the dataset records of its data (your
    corpus: its files and their sha256); `remedy` must already be canonical. Relative paths in
    `dataset` start at `base` (default: the working folder)."""
    from bench.data.datasets import find_dataset  # it imports torch: only here, so the CLI starts fast

    spec = find_dataset(dataset, base)
    cfg = RunConfig(dataset=dataset, remedy=remedy, seed=seed)
    cfg.data.name = dataset
    for key, value in spec.sizes.settings().items():
        set_value(cfg, key, value)
    for key, value in overrides.items():
        if key in RECORDED_DATA_KEYS:
            raise ConfigError(f"{key} is recorded from the dataset's files; it cannot be set")
        set_value(cfg, key, value)
    for key, value in spec.identify(cfg.data).items():
        set_value(cfg, f"data.{key}", value)
    validate(cfg)
    return cfg
