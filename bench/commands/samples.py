"""`collapse-bench samples RUN`: read what a trained VAE writes, from the prior and from given sentences."""

from __future__ import annotations

from pathlib import Path

import click

from bench.commands import data_dir_option


@click.command("samples", epilog="""\b
Examples:
  collapse-bench samples results/demo/runs/4b49e063cdd7
  collapse-bench samples results/demo/runs/4b49e063cdd7 --sample --temperature 0.8 --n 10 --seed 1
  collapse-bench samples results/ptb/runs/0123abcd4567 --reconstruct "the company said it expects" \\
      --interpolate "i want to go home" "the stock fell sharply" --steps 7""")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--n", "count", default=5, show_default=True, type=click.IntRange(min=0),
              help="Sentences decoded from z ~ N(0, I) (0: none).")
@click.option("--greedy/--sample", default=True, show_default=True,
              help="Argmax decoding, or drawing each word from the softmax.")
@click.option("--temperature", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Softmax temperature for --sample (below 1: safer words).")
@click.option("--reconstruct", multiple=True, metavar="SENTENCE",
              help="Encode SENTENCE (words split on spaces) and decode it from its encoder mean; repeatable.")
@click.option("--interpolate", nargs=2, default=None, metavar="S1 S2",
              help="Decode along the line between the encoder means of S1 and S2 (Bowman's homotopy).")
@click.option("--steps", default=5, show_default=True, type=click.IntRange(min=2),
              help="Points on the interpolation line, both ends included.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for prior codes and --sample.")
@click.option("--max-words", default=None, type=click.IntRange(min=1),
              help="Longest sentence to decode  [default: the longest training sentence]")
@data_dir_option
def samples(run_dir: Path, count: int, greedy: bool, temperature: float, reconstruct: tuple[str, ...],
            interpolate: tuple[str, str] | None, steps: int, seed: int, max_words: int | None,
            data_dir: str | None) -> None:
    """Decode sentences from the stored run RUN (results/<suite>/runs/<id>).

    Prints samples from the prior, reconstructions of the given sentences and
    an interpolation between two sentences. A collapsed model says the same
    thing whatever z is; one that uses z reconstructs and moves smoothly.
    The vocabulary is rebuilt from the run's dataset (--data-dir for files).
    """
    import torch

    from bench.sampling import decode, encode_sentences, homotopy, load_run, prior_codes, to_text

    run = load_run(run_dir, data_dir)
    generator = torch.Generator().manual_seed(seed)
    limit = max_words or run.max_words

    def say(z: torch.Tensor) -> list[str]:
        ids = decode(run.model, z, limit, greedy=greedy, temperature=temperature, generator=generator)
        return [to_text(run.vocab, sentence) for sentence in ids]

    mode = "greedy decoding" if greedy else f"sampled decoding, temperature {temperature}"
    click.echo(f"run {run_dir.name}: {run.cfg.dataset}, remedy {run.cfg.remedy}, seed {run.cfg.seed}; {mode}")
    if count:
        click.echo(f"\nfrom the prior, z ~ {run.model.family.prior_name}:")
        for index, text in enumerate(say(prior_codes(run.model, count, generator)), start=1):
            click.echo(f"  {index}. {text}")
    if reconstruct:
        click.echo("\nreconstructions from the encoder mean E_q[z|x]:")
        mu, unknown = encode_sentences(run.model, run.vocab, list(reconstruct))
        for sentence, text, missing in zip(reconstruct, say(mu), unknown, strict=True):
            click.echo(f"  in:  {sentence}{_unknown_note(missing)}\n  out: {text}")
    if interpolate:
        click.echo("\ninterpolation z = (1 - t) z1 + t z2 between the encoder means (Bowman et al. 2016):")
        mu, unknown = encode_sentences(run.model, run.vocab, list(interpolate))
        for end, sentence, missing in zip(("z1", "z2"), interpolate, unknown, strict=True):
            click.echo(f"  {end} from: {sentence}{_unknown_note(missing)}")
        if torch.equal(mu[0], mu[1]):
            click.echo("  warning: both sentences encode to the same z, so every line below is the same")
        line = homotopy(mu[0], mu[1], steps)
        for t, text in zip(torch.linspace(0, 1, steps).tolist(), say(line), strict=True):
            click.echo(f"  t={t:.2f}  {text}")


def _unknown_note(missing: int) -> str:
    """Flags words read as `<unk>`: a sentence from another vocabulary otherwise decodes as if z were
    ignored, and the output alone cannot tell the two apart."""
    return f"  ({missing} word(s) not in the vocabulary, read as <unk>)" if missing else ""
