"""The reference initialisation (He et al. 2019 code)."""

from torch import nn


def reference_init(module: nn.Module) -> None:
    """All weights U(-0.01, 0.01), embeddings U(-0.1, 0.1), as jxhe/vae-lagging-encoder.

    BatchNorm parameters keep their own initialisation: BN-VAE fixes the scale.
    """
    for name, param in module.named_parameters():
        if ".bn." in f".{name}" or name.startswith("bn."):
            continue
        bound = 0.1 if "embed" in name else 0.01
        nn.init.uniform_(param, -bound, bound)
