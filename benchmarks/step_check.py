"""Step for step: the harness's aggressive-training updates against He et al.'s own model code.

    python benchmarks/step_check.py --repo ~/src/vae-lagging-encoder

Builds He et al.'s VAE from a local checkout of jxhe/vae-lagging-encoder (the
user fetches it; nothing of it is part of this project) and the harness's
model with the same weights, then trains both on the same random batches of
one sentence length: rounds of encoder-only steps followed by one
decoder-only step, as in aggressive training. The harness side is
`Trainer.update`, the code every run uses; the authors' side is their
`VAE.loss` with the step rule of their `text.py` loop (both halves' gradient,
joint norm clipped, one SGD optimiser steps). Dropout masks and the
posterior noise are matched, so any difference in the losses or parameters
is a difference in what is computed. Prints the largest loss and parameter
differences and how far the parameters moved; exits 1 unless they agree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import bench.models.vae as harness_vae  # noqa: E402  (the checkout's package, not an installed one)
from bench.data.batching import Batch, collate  # noqa: E402
from bench.single_run import plan_run, resolve  # noqa: E402
from bench.train import Trainer  # noqa: E402

# harness parameter name prefix -> the authors' (modules/encoders/enc_lstm.py, modules/decoders/dec_lstm.py)
NAMES = {"encoder.embed": "encoder.embed", "encoder.lstm": "encoder.lstm",
         "encoder.to_gaussian": "encoder.linear", "decoder.embed": "decoder.embed",
         "decoder.lstm": "decoder.lstm", "decoder.z_to_c": "decoder.trans_linear",
         "decoder.out": "decoder.pred_linear"}


def authors_name(name: str) -> str:
    prefix = next(key for key in NAMES if name.startswith(key + "."))
    return NAMES[prefix] + name[len(prefix):]


def authors_model(repo: Path, vocab_size: int, size: int, nz: int) -> Any:
    """Their VAE with their LSTM encoder and decoder, built as their text.py builds it (U(-0.01, 0.01),
    embeddings U(-0.1, 0.1)), dropout 0.5 / 0.5."""
    sys.path.insert(0, str(repo))
    from modules.decoders.dec_lstm import LSTMDecoder
    from modules.encoders.enc_lstm import LSTMEncoder
    from modules.vae import VAE

    args = argparse.Namespace(ni=size, enc_nh=size, dec_nh=size, nz=nz, dec_dropout_in=0.5,
                              dec_dropout_out=0.5, device="cpu")

    def uniform(scale: float) -> Any:
        return lambda tensor: torch.nn.init.uniform_(tensor, -scale, scale)

    vocab = {index: index for index in range(vocab_size)}
    encoder = LSTMEncoder(args, vocab_size, uniform(0.01), uniform(0.1))
    decoder = LSTMDecoder(args, vocab, uniform(0.01), uniform(0.1))
    return VAE(encoder, decoder, args)


def match_noise(authors: Any, noise: torch.Tensor) -> None:
    """Both sides draw z = mu + noise * sigma with the same `noise` (refilled before each step)."""
    def sample(mu: torch.Tensor, logvar: torch.Tensor, *_: Any, **__: Any) -> torch.Tensor:
        return mu.unsqueeze(1) + noise * logvar.mul(0.5).exp().unsqueeze(1)

    type(authors.encoder).reparameterize = lambda self, mu, logvar, nsamples=1: sample(mu, logvar)
    harness_vae.sample_posterior = sample


def largest_difference(model: torch.nn.Module, other: Any) -> float:
    """Largest absolute difference between `model`'s parameters and `other(name)`."""
    return max(float((param.detach() - other(name).detach()).abs().max())
               for name, param in model.named_parameters())


def authors_step(model: Any, tokens: torch.Tensor, encoder: bool, clip: float) -> torch.Tensor:
    """One step of their text.py loop: zero both, loss.mean() backward, clip all, step one half."""
    enc_opt = torch.optim.SGD(model.encoder.parameters(), lr=1.0)
    dec_opt = torch.optim.SGD(model.decoder.parameters(), lr=1.0)
    enc_opt.zero_grad()
    dec_opt.zero_grad()
    loss = model.loss(tokens, 1.0, nsamples=1)[0]
    loss.mean(dim=-1).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    (enc_opt if encoder else dec_opt).step()
    return loss.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, type=Path,
                        help="local checkout of jxhe/vae-lagging-encoder")
    parser.add_argument("--rounds", type=int, default=6,
                        help="rounds of encoder-only steps + one decoder step")
    parser.add_argument("--inner", type=int, default=30, help="encoder-only steps a round")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clip", type=float, default=0.05,
                        help="the gradient-norm clip of both sides; below the norms of a model this fresh, "
                             "so that the clip acts on every step (their 5 would not yet)")
    args = parser.parse_args()
    if not (args.repo / "modules" / "vae.py").is_file():
        parser.error(f"{args.repo} has no modules/vae.py: give a checkout of jxhe/vae-lagging-encoder")
    size, nz, batch_size = 50, 2, 16
    sizes = {"model.nz": nz, "model.emb": size, "model.enc_hidden": size, "model.dec_hidden": size,
             "train.batch_size": batch_size, "train.clip": args.clip, "data.synthetic_size": 100}
    run = resolve("synthetic", "aggressive", args.seed, sizes)
    corpus = plan_run(run).corpus
    trainer = Trainer(run.config, corpus, run.remedy)
    torch.manual_seed(args.seed)
    authors = authors_model(args.repo, len(corpus.vocab), size, nz)
    theirs = dict(authors.named_parameters())
    with torch.no_grad():
        for name, param in trainer.model.named_parameters():
            param.copy_(theirs[authors_name(name)])
    start = {name: param.detach().clone() for name, param in trainer.model.named_parameters()}
    noise = torch.zeros(batch_size, 1, nz)
    match_noise(authors, noise)
    draw = torch.Generator().manual_seed(args.seed + 1)
    worst_loss = worst_param = 0.0
    for _ in range(args.rounds):
        for inner in range(args.inner + 1):
            encoder = inner < args.inner
            length = int(torch.randint(3, 15, (1,), generator=draw))
            # ids past the specials; not the last id, whose decoder embedding their code never trains
            words = [torch.randint(4, len(corpus.vocab) - 1, (length,), generator=draw).tolist()
                     for _ in range(batch_size)]
            batch: Batch = collate(words, list(range(batch_size)))
            noise.copy_(torch.randn(batch_size, 1, nz, generator=draw))
            authors.train()
            torch.manual_seed(args.seed + inner)  # the same dropout masks on both sides
            theirs_loss = authors_step(authors, batch.tokens, encoder, run.config.train.clip)
            torch.manual_seed(args.seed + inner)
            ours_loss = trainer.update(batch, encoder=encoder, decoder=not encoder, kl_weight=1.0)
            worst_loss = max(worst_loss, float((theirs_loss - ours_loss).abs().max()))
            gap = largest_difference(trainer.model, lambda name: theirs[authors_name(name)])
            worst_param = max(worst_param, gap)
    moved = largest_difference(trainer.model, start.__getitem__)
    steps = args.rounds * (args.inner + 1)
    print(f"{steps} steps ({args.rounds} rounds of {args.inner} encoder-only + 1 decoder-only), the same "
          f"weights, batches, dropout masks and noise: largest loss difference {worst_loss:.3g}, largest "
          f"parameter difference {worst_param:.3g}; parameters moved by up to {moved:.3g}")
    sys.exit(0 if worst_loss <= 1e-4 and worst_param <= 1e-6 else 1)  # float32 rounding, no more


if __name__ == "__main__":
    main()
