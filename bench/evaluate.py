"""Final test metrics of a trained model: IW NLL, PPL, KL, MI, AU and the ELBO; the NLL and the ELBO's
terms per sentence too.

Speed comes from scoring many sentences x many samples per decoder call: the
reference scores one sentence at a time. Each call holds at most
`eval.iw_tokens` (sentence x sample x position) cells; the output layer
scores them in cache-sized blocks (bench/models/projection.py), so memory
stays at a few blocks of logits whatever the call's size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from bench.config import EvalConfig
from bench.data.batching import Batch, batch_sizes, collate, make_batches
from bench.metrics import (
    active_units,
    iw_log_marginal,
    mutual_info,
    mutual_info_batched,
    perplexity,
)
from bench.models import SentenceVAE

ENCODE_BATCH = 256


def split_batches(sentences: list[list[int]], batch_size: int = ENCODE_BATCH) -> list[Batch]:
    """Fixed, length-sorted batches for evaluation passes."""
    return make_batches(sentences, batch_size)


def evaluation_indices(count: int, limit: int, seed: int) -> list[int]:
    """Positions in a split of `count` sentences of the `limit` that are scored, in split order (all when
    limit is 0 or larger).

    Seeded by the data split seed, not the run seed, so every remedy and every
    seed is scored on the same sentences and differences stay paired.
    """
    if not limit or limit >= count:
        return list(range(count))
    chosen = torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:limit]
    return sorted(chosen.tolist())


def evaluation_subset(sentences: list[list[int]], limit: int, seed: int) -> list[list[int]]:
    """The sentences `evaluation_indices` picks (`sentences` itself when it picks all)."""
    if not limit or limit >= len(sentences):
        return sentences
    return [sentences[i] for i in evaluation_indices(len(sentences), limit, seed)]


def token_bounded_batches(sentences: list[list[int]], cells: int, samples: int) -> list[Batch]:
    """Length-sorted groups with sentences x samples x positions <= cells (at least one sentence)."""
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    groups: list[list[int]] = []
    for index in order:
        positions = len(sentences[index]) + 1
        if groups and (len(groups[-1]) + 1) * positions * samples <= cells:
            groups[-1].append(index)
        else:
            groups.append([index])
    return [collate([sentences[i] for i in group], group) for group in groups]


def encode_all(model: SentenceVAE, batches: list[Batch], device: torch.device) -> tuple[Tensor, Tensor]:
    """Posterior parameters of every sentence, in split order: mu, logvar [N, nz]."""
    mus, logvars, indices = [], [], []
    with torch.inference_mode():
        for batch in batches:
            mu, logvar = model.encode(batch.to(device))
            mus.append(mu.float().cpu())
            logvars.append(logvar.float().cpu())
            indices.append(batch.index)
    order = torch.argsort(torch.cat(indices))
    return torch.cat(mus)[order], torch.cat(logvars)[order]


@dataclass
class ElboSums:
    """One pass of the one-sample ELBO over a split: its terms summed over sentences, and every
    sentence's terms, posterior parameters and position (in the order of the batches).

    `neg_elbo` is the code's one name for the negative ELBO (rec + KL). Stored
    files keep their older keys, so that stored runs, checkpoints and the
    tools reading them still read: metrics.json "validation" rows and the
    trackers' `valid/loss` call it "loss" (He et al.'s logs' word, which
    benchmarks/side_by_side.py matches); metrics.json "test" and the curve
    table store the ELBO itself, sign and all, as "elbo" (and "elbo_rec",
    "elbo_ppl"); a checkpoint keeps the best validation value as the
    protocol's "best_loss"; and bench/report calls its column "neg_elbo".
    """

    rec: float
    kl: float
    sentences: int
    words: int
    mu: Tensor  # [N, nz], float32, on the model's device
    logvar: Tensor
    rec_each: Tensor  # [N], float32, on the model's device
    kl_each: Tensor
    index: Tensor  # [N]: each sentence's position in the list the batches were cut from

    @property
    def neg_elbo(self) -> float:
        return self.rec + self.kl


def elbo_sums(
    model: SentenceVAE,
    batches: Iterable[Batch],
    device: torch.device,
    *,
    generator: torch.Generator | None = None,
    before: Callable[[Batch], None] | None = None,
) -> ElboSums:
    """The evaluation loop over `batches`, shared by validation (model selection) and the final test.

    One z per sentence from `generator` (None: torch's global stream, as the
    reference's validation draws). `before` sees each batch, on the device,
    ahead of its ELBO sample: the final IW NLL, whose draws must come first
    so that each batch takes the same noise as ever. The model's mode and
    precision are the caller's.
    """
    rec = kl = 0.0
    sentences = words = 0
    mus, logvars, recs, kls, indices = [], [], [], [], []
    with torch.inference_mode():
        for batch in batches:
            batch = batch.to(device)
            if before is not None:
                before(batch)
            terms = model.loss_terms(batch, generator=generator)
            rec += float(terms.rec.float().sum())
            kl += float(terms.kl.float().sum())
            sentences += len(batch)
            words += batch.n_words
            mus.append(terms.mu.float())
            logvars.append(terms.logvar.float())
            recs.append(terms.rec.float())
            kls.append(terms.kl.float())
            indices.append(batch.index)
    return ElboSums(rec, kl, sentences, words, torch.cat(mus), torch.cat(logvars), torch.cat(recs),
                    torch.cat(kls), torch.cat(indices))


SENTENCE_COLUMNS = ("sentence", "tokens", "nll_iw", "elbo_rec", "kl")


@dataclass
class Evaluation:
    """The final metrics (metrics.json "test") and the same estimates per sentence.

    `sentences` has one row per scored sentence, in split order, with
    SENTENCE_COLUMNS: its position in the split (`sentence`), its word count
    without `</s>` (`tokens`), its IW NLL, and its one-sample ELBO terms:
    reconstruction `elbo_rec` = -log p(x|z) at one z ~ q(z|x), and the analytic
    KL. Their means are the metrics' `nll`, `elbo_rec` and `kl`. They let a
    report pair two models on the same sentences.
    """

    metrics: dict[str, Any]
    sentences: pd.DataFrame


def score(
    model: SentenceVAE,
    sentences: list[list[int]],
    cfg: EvalConfig,
    *,
    seed: int,
    device: torch.device,
    autocast: Any,
    progress: bool = False,
    by_length: bool = False,
    positions: list[int] | None = None,
) -> Evaluation:
    """All final metrics on `sentences`, and each sentence's; the model is put in eval mode (no dropout).

    `autocast` (a context manager, used twice) sets the precision of every model call. The per-batch
    MI (`eval.mi_estimator = "batch"`) is He et al.'s: analytic entropy, over batches of
    `eval.mi_batch` cut as their loader cuts them, of one sentence length each with `by_length`.
    `positions`: each sentence's position in its split (default: its position in `sentences`).
    Keeping the per-sentence values draws no extra noise and leaves every metric as it was.
    """
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    with autocast:
        mu, logvar = encode_all(model, split_batches(sentences), device)
    family = model.family
    if cfg.mi_estimator == "whole":
        mi = mutual_info(mu, logvar, generator, family=family)
    else:
        sizes = batch_sizes(sentences, cfg.mi_batch, by_length)
        mi = mutual_info_batched(mu, logvar, sizes, generator, analytic_entropy=True, family=family)
    au = active_units(family.mean(mu, logvar), cfg.au_threshold)
    mi_au_seconds = time.perf_counter() - started

    started = time.perf_counter()
    nll_total = 0.0
    nll_each: list[tuple[Tensor, Tensor]] = []  # (positions in `sentences`, NLL) per batch
    samples = min(cfg.iw_samples, cfg.iw_chunk)

    def add_iw_nll(batch: Batch) -> None:
        nonlocal nll_total
        mu_b, logvar_b = (t.float() for t in model.encode(batch))
        log_px = iw_log_marginal(mu_b, logvar_b, lambda z: model.log_likelihood(batch, z).float(),
                                 cfg.iw_samples, samples, generator, family=family)
        nll_total += float(-log_px.sum())
        nll_each.append((batch.index.cpu(), -log_px.cpu()))

    batches = token_bounded_batches(sentences, cfg.iw_tokens, samples)
    with autocast:
        sums = elbo_sums(model, tqdm(batches, desc="IW NLL", unit="batch", disable=not progress, leave=False),
                         device, generator=generator, before=add_iw_nll)
    iw_seconds = time.perf_counter() - started
    count = len(sentences)
    metrics = {
        "nll": nll_total / count,
        "ppl": perplexity(nll_total, sums.words),
        "kl": sums.kl / count,
        "mi": mi,
        "mi_estimator": cfg.mi_estimator,
        "au": au,
        "elbo_rec": sums.rec / count,
        "elbo": -sums.neg_elbo / count,
        "elbo_ppl": perplexity(sums.neg_elbo, sums.words),
        "iw_samples": cfg.iw_samples,
        "n_sentences": count,
        "n_words": sums.words,
        "timings": {"mi_au_s": mi_au_seconds, "iw_nll_s": iw_seconds},
    }
    return Evaluation(metrics, _per_sentence(sentences, positions, nll_each, sums))


def _per_sentence(sentences: list[list[int]], positions: list[int] | None,
                  nll_each: list[tuple[Tensor, Tensor]], sums: ElboSums) -> pd.DataFrame:
    """The SENTENCE_COLUMNS frame, in split order, from the per-batch values (in batch order)."""
    nll = torch.empty(len(sentences), dtype=torch.float64)
    for index, values in nll_each:
        nll[index] = values.double()
    rec, kl = (torch.empty(len(sentences), dtype=torch.float64) for _ in range(2))
    order = sums.index.cpu()
    rec[order], kl[order] = sums.rec_each.double().cpu(), sums.kl_each.double().cpu()
    return pd.DataFrame({
        "sentence": positions if positions is not None else range(len(sentences)),
        "tokens": [len(sentence) for sentence in sentences],
        "nll_iw": nll.numpy(), "elbo_rec": rec.numpy(), "kl": kl.numpy(),
    }, columns=list(SENTENCE_COLUMNS))
