"""Final evaluation: the scored subset and the allocator setting it relies on for speed."""

import platform

from bench.allocator import retain_freed_memory
from bench.evaluate import evaluation_subset, token_bounded_batches
from bench.single_run import execute, plan_run, resolve

SENTENCES = [[i] * (1 + i % 5) for i in range(50)]


def test_subset_is_all_sentences_when_unlimited_or_larger():
    assert evaluation_subset(SENTENCES, 0, seed=0) is SENTENCES
    assert evaluation_subset(SENTENCES, 50, seed=0) is SENTENCES


def test_subset_is_a_seeded_sample_in_split_order_without_repeats():
    chosen = evaluation_subset(SENTENCES, 10, seed=3)
    positions = [SENTENCES.index(s) for s in chosen]
    assert len(chosen) == 10 and positions == sorted(set(positions))
    assert chosen == evaluation_subset(SENTENCES, 10, seed=3)
    assert chosen != evaluation_subset(SENTENCES, 10, seed=4)


def test_token_bounded_batches_respect_the_cell_budget():
    batches = token_bounded_batches(SENTENCES, cells=60, samples=5)
    assert sorted(i for b in batches for i in b.index.tolist()) == list(range(50))
    assert all(len(b) * b.inputs.shape[1] * 5 <= 60 for b in batches)


def test_max_sentences_scores_the_same_sentences_for_every_seed(tmp_path):
    settings = {"data.synthetic_size": 200, "train.epochs": 1, "eval.iw_samples": 3,
                "train.diag_every": 0, "eval.max_sentences": 7}
    scored = []
    for seed in (0, 1):
        metrics = execute(plan_run(resolve("synthetic", "none", seed, settings)), tmp_path, "t")
        assert metrics["status"] == "finished"
        scored.append((metrics["test"]["n_sentences"], metrics["test"]["n_words"]))
    assert scored == [(7, 77), (7, 77)]  # synthetic sentences: 10 words + end of sentence


def test_allocator_setting_holds_on_glibc_and_is_set_once():
    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert retain_freed_memory() is expected
    assert retain_freed_memory() is expected


def test_the_per_batch_mi_is_he_et_als_over_batches_cut_as_their_loader_cuts_them():
    """Analytic entropy, batches of eval.mi_batch holding one sentence length each (by-length)."""
    import contextlib

    import torch

    from bench.data.batching import cut
    from bench.evaluate import encode_all, score, split_batches
    from bench.metrics import mutual_info_batched
    from bench.models import build_model

    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 8, (60,), generator=g).tolist()
    sentences = [torch.randint(4, 30, (n,), generator=g).tolist() for n in lengths]
    sizes = {"model.nz": 2, "model.emb": 8, "model.enc_hidden": 8, "model.dec_hidden": 8}
    run = resolve("synthetic", "none", 0,
                  {"eval.mi_estimator": "batch", "eval.mi_batch": 8, "eval.iw_samples": 2, **sizes})
    torch.manual_seed(0)
    model = build_model(40, run.config.model)
    model.eval()
    mu, logvar = encode_all(model, split_batches(sentences), torch.device("cpu"))
    for by_length in (True, False):
        batches = [len(chunk) for chunk in cut(sentences, 8, by_length)]
        expected = mutual_info_batched(mu, logvar, batches, torch.Generator().manual_seed(0),
                                       analytic_entropy=True)
        test = score(model, sentences, run.config.eval, seed=0, device=torch.device("cpu"),
                        autocast=contextlib.nullcontext(), by_length=by_length).metrics
        assert test["mi"] == expected
