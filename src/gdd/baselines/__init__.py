"""Classic fusion methods to compare GDD with: pansharpening and HS + MS fusion.

Our torch implementations, following Vivone et al.'s pansharpening toolbox
(:mod:`gdd.baselines.pansharpening`) and, for HS + MS fusion, Yokoya et al.'s review and CNMF
(:mod:`gdd.baselines.hs`). The registries map a method's name to its function:

- :data:`PANSHARPENING`: ``f(ms, pan, *, ratio, ...)``, ms (1, C, h, w), pan (1, 1, h r, w r);
- :data:`HS_FUSION`: ``f(hsi, msi, *, factor, srf=None, ...)``, hsi (1, C, h, w), msi (1, K, h f, w f);
- :data:`METHOD_NAMES`: the names to display ("MTF-GLP", ...).

Example:
    >>> import torch
    >>> ms, pan = torch.rand(1, 4, 8, 8), torch.rand(1, 1, 32, 32)
    >>> {name: tuple(f(ms, pan, ratio=4).shape) for name, f in PANSHARPENING.items()}["gsa"]
    (1, 4, 32, 32)
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .hs import cnmf, glp_hs, gsa_hs, sfim_hs
from .pansharpening import Injection, Upsample, brovey, exp, gs, gsa, interp23tap, mtf_glp, mtf_glp_hpm, pca, sfim

__all__ = [
    "HS_FUSION",
    "METHOD_NAMES",
    "PANSHARPENING",
    "Injection",
    "Upsample",
    "brovey",
    "cnmf",
    "exp",
    "glp_hs",
    "gs",
    "gsa",
    "gsa_hs",
    "interp23tap",
    "mtf_glp",
    "mtf_glp_hpm",
    "pca",
    "sfim",
    "sfim_hs",
]

PANSHARPENING: dict[str, Callable[..., Tensor]] = {
    "exp": exp,
    "brovey": brovey,
    "pca": pca,
    "gs": gs,
    "gsa": gsa,
    "mtf_glp": mtf_glp,
    "mtf_glp_hpm": mtf_glp_hpm,
    "sfim": sfim,
}

HS_FUSION: dict[str, Callable[..., Tensor]] = {
    "gsa_hs": gsa_hs,
    "sfim_hs": sfim_hs,
    "glp_hs": glp_hs,
    "cnmf": cnmf,
}

METHOD_NAMES: dict[str, str] = {
    "exp": "EXP",
    "brovey": "Brovey",
    "pca": "PCA",
    "gs": "GS",
    "gsa": "GSA",
    "mtf_glp": "MTF-GLP",
    "mtf_glp_hpm": "MTF-GLP-HPM",
    "sfim": "SFIM",
    "gsa_hs": "GSA-HS",
    "sfim_hs": "SFIM-HS",
    "glp_hs": "GLP-HS",
    "cnmf": "CNMF",
}
