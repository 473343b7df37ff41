"""Weight initialisation schemes: He et al.'s reference one, or PyTorch's per-layer defaults.

The scheme decides whether the inference network can learn at all in a short
run. Under the reference U(-0.01, 0.01) the encoder's mean varies across
sentences by about 1e-5 and its gradient passes through a chain of equally
small weights: on tiny synthetic runs even a KL weight of 0 leaves MI at 0,
so a schedule on the KL weight has nothing to act on. Under PyTorch's
defaults (uniform in +-1/sqrt(fan_in), N(0, 1) embeddings) the encoder
encodes once the KL weight is low, which is the situation the annealing
papers describe. `tests/test_remedy_behaviour.py` measures both.

"pytorch-encoder" is BN-VAE's code (valdersoul/bn-vae): its encoder skips
the reference init and keeps PyTorch's defaults, its decoder takes the
reference one.
"""

from torch import nn

HALVES = {"reference": ("reference", "reference"), "pytorch": ("pytorch", "pytorch"),
          "pytorch-encoder": ("pytorch", "reference")}  # scheme -> (encoder's, decoder's)


def half_scheme(scheme: str, half: str) -> str:
    """The plain scheme ("reference" or "pytorch") that `scheme` gives the "encoder" or "decoder"."""
    return HALVES[scheme][0 if half == "encoder" else 1]


def initialise_model(model: nn.Module, scheme: str) -> None:
    """Initialise a VAE's encoder and decoder, each by its half of `scheme`."""
    initialise(model.encoder, half_scheme(scheme, "encoder"))
    initialise(model.decoder, half_scheme(scheme, "decoder"))


def initialise(module: nn.Module, scheme: str) -> None:
    """Initialise every parameter of `module` by `scheme`; BatchNorm layers keep theirs.

    BN-VAE fixes the BatchNorm scale at gamma when it builds the encoder, so
    neither scheme may touch it.
    """
    if scheme == "reference":
        reference_init(module)
        return
    for layer in module.modules():
        if not isinstance(layer, nn.BatchNorm1d) and hasattr(layer, "reset_parameters"):
            layer.reset_parameters()


def reference_init(module: nn.Module) -> None:
    """All weights U(-0.01, 0.01), embeddings U(-0.1, 0.1), as jxhe/vae-lagging-encoder."""
    for name, param in module.named_parameters():
        if ".bn." in f".{name}" or name.startswith("bn."):
            continue
        bound = 0.1 if "embed" in name else 0.01
        nn.init.uniform_(param, -bound, bound)
