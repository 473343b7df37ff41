"""The evidence behind a stored run's diagnosis (`collapse-bench diagnose`): its metrics.json and curve,
and, from its model, the KL per latent unit and how decoding from the prior and the posterior differ.

Everything read from the model is cheap and seeded: per-unit KL from one encoder pass over a capped,
seeded subset of the test split, and greedy decodes of a handful of codes.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from bench import store
from bench.config import RunConfig
from bench.data.batching import collate
from bench.data.datasets import cached_corpus
from bench.diagnosis import Evidence, Samples, collapse_onset, curve_batch
from bench.evaluate import encode_all, evaluation_subset, split_batches
from bench.report.escape import escapes, mi_null_threshold, null_kappa, validation_size
from bench.report.verdicts import autoencoder_control
from bench.sampling import LoadedRun, decode, load_run, prior_codes, to_text


def finished_run(run_dir: Path) -> tuple[RunConfig, dict[str, Any]]:
    """The config and metrics.json of a finished run whose files read whole; ConfigError, one line, else."""
    store.require_finished(run_dir, "diagnosed")
    config = store.read_json(run_dir / store.CONFIG)
    return RunConfig.from_dict(config), store.read_json(run_dir / store.METRICS)


def stored_evidence(run_dir: Path, cfg: RunConfig, metrics: dict[str, Any]) -> Evidence:
    """What metrics.json and the curve say: test KL, MI, AU; the last amortisation gap; the collapse onset."""
    test = metrics["test"]
    nz, n = cfg.model.nz, int(test["n_sentences"])
    gaps = [row for row in metrics.get("validation") or [] if _finite(row.get("amortisation_gap"))]
    measured = _mi_points(run_dir)
    n_valid = validation_size(metrics.get("data", {}).get("sentences"))
    curve_sentences = curve_batch(cfg.train.diag_batch, n_valid)
    kappa = null_kappa(cfg.model.posterior, cfg.model.vmf_kappa)  # the null's family
    curve_threshold = mi_null_threshold(curve_sentences, nz, vmf_kappa=kappa) if len(measured) else None
    threshold = mi_null_threshold(n, nz, vmf_kappa=kappa)
    kl, mi, au = float(test["kl"]), float(test["mi"]), float(test["au"])
    return Evidence(
        remedy=cfg.remedy, nz=nz, n_sentences=n, kl=kl, mi=mi, au=au, threshold=threshold,
        escaped=escapes(mi, au, threshold), control=autoencoder_control(cfg.remedy),
        au_threshold=cfg.eval.au_threshold, init=cfg.model.init,
        kl_per_unit=tuple(test["kl_per_unit"]) if "kl_per_unit" in test else None,
        gap=float(gaps[-1]["amortisation_gap"]) if gaps else None, gap_sentences=cfg.train.gap_sentences,
        onset=collapse_onset(measured["step"], measured["mi"], curve_threshold) if curve_threshold else None,
        curve_points=len(measured), curve_sentences=curve_sentences,
        curve_threshold=curve_threshold,
    )


def _mi_points(run_dir: Path) -> pd.DataFrame:
    """The curve's rows with an MI measurement (none when train.diag_every was 0)."""
    curve = store.read_table(run_dir, store.CURVE)
    if curve is None or "mi" not in curve:
        return pd.DataFrame({"step": [], "mi": []})
    return curve[curve["mi"].notna()]


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def unit_kls(run: LoadedRun, sentences: list[list[int]]) -> tuple[float, ...]:
    """Mean KL(q(z_u|x) || p(z_u)) over `sentences`, per latent unit u, in nats (the vMF's constant KL,
    which is not a sum over units, spread evenly)."""
    mu, logvar = encode_all(run.model, split_batches(sentences), torch.device("cpu"))
    return tuple(run.model.family.kl_per_dim(mu.double(), logvar.double()).mean(dim=0).tolist())


def token_agreement(decoded: list[int], reference: list[int]) -> float:
    """Share of the positions of the longer of two token lists where both hold the same token (0 to 1)."""
    longest = max(len(decoded), len(reference))
    return sum(a == b for a, b in zip(decoded, reference, strict=False)) / longest if longest else 1.0


def compare_samples(run: LoadedRun, sentences: list[list[int]], count: int, seed: int) -> Samples:
    """Greedy decodes of `count` codes z ~ p(z) and of the posterior means of `count` of `sentences`
    (drawn with `seed`); each decode scored against the same input sentence, so the prior's score is
    what a z that knows nothing of the sentence gets."""
    generator = torch.Generator().manual_seed(seed)
    chosen = [sentences[i] for i in torch.randperm(len(sentences), generator=generator)[:count].tolist()]
    prior = decode(run.model, prior_codes(run.model, len(chosen), generator), run.max_words)
    with torch.inference_mode():
        mu, scale = run.model.encode(collate(chosen, list(range(len(chosen)))))
    posterior = decode(run.model, run.model.family.mean(mu, scale).float(), run.max_words)

    def agreement(decodes: list[list[int]]) -> float:
        return sum(token_agreement(d, s) for d, s in zip(decodes, chosen, strict=True)) / len(chosen)

    return Samples(
        prior=tuple(to_text(run.vocab, ids) for ids in prior),
        inputs=tuple(to_text(run.vocab, ids) for ids in chosen),
        posterior=tuple(to_text(run.vocab, ids) for ids in posterior),
        prior_agreement=agreement(prior), posterior_agreement=agreement(posterior),
        prior_name=run.model.family.prior_name,
    )


def model_evidence(run_dir: Path, evidence: Evidence, cfg: RunConfig, *, data_dir: str | None,
                   sentences: int, samples: int, seed: int) -> Evidence:
    """`evidence` with what the stored model adds: per-unit KL (when metrics.json lacks it) on a subset
    of at most `sentences` of the evaluation split (seeded by `data.split_seed`, as the final
    evaluation's subset), and `samples` decodes from the prior and the posterior (none when 0)."""
    run = load_run(run_dir, data_dir)
    split = cached_corpus(cfg.data, data_dir).splits[cfg.eval.split]
    subset = evaluation_subset(split, sentences, cfg.data.split_seed)
    kl_per_unit = evidence.kl_per_unit if evidence.kl_per_unit is not None else unit_kls(run, subset)
    compared = compare_samples(run, subset, samples, seed) if samples else None
    return dataclasses.replace(evidence, kl_per_unit=kl_per_unit, samples=compared)
