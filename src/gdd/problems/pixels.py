"""The pixels held out of a fit: their seeded draw and their filling from the kept neighbours."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["fill", "holdout_mask", "scored_pixels", "too_few_to_hold_out"]


def holdout_mask(
    height: int, width: int, fraction: float, *, seed: int, valid: Tensor | None = None, fold: int = 0
) -> Tensor:
    """(1, 1, height, width) bool, True at ``round(fraction * n)`` pixels drawn at random among the n valid ones.

    At least one pixel is held out and at least one kept. ``valid`` (1, 1, height, width), True
    or 1 where there is data, limits the draw to those pixels. ``fold`` k holds out the k-th
    block of that many pixels in the same seeded order, so folds 0, 1, ... of one seed are
    disjoint (cross-validation's folds); fold 0 is the default draw.

    Example:
        >>> int(holdout_mask(10, 10, 0.1, seed=0).sum())
        10
    """
    if not 0 < fraction < 1:
        raise ValueError(f"the held-out share must be between 0 and 1, got {fraction}")
    generator = torch.Generator().manual_seed(seed)
    order = torch.rand(height * width, generator=generator)
    ok = torch.ones(height * width, dtype=torch.bool) if valid is None else valid.reshape(-1).bool().cpu()
    n = int(ok.sum())
    if n < 2:
        raise ValueError(
            f"held-out validation needs at least two observed pixels; the {height} x {width} image has {n} with data "
            "(fuse a larger image, or turn it off: --holdout 0)"
        )
    order[~ok] = 2.0  # never drawn
    k = min(max(round(fraction * n), 1), n - 1)
    if fold < 0 or (fold + 1) * k > n - 1:
        raise ValueError(f"fold {fold} of {k} held-out pixels needs more than the {n} observed pixels")
    mask = torch.zeros(height * width, dtype=torch.bool)
    mask[order.argsort()[fold * k : (fold + 1) * k]] = True
    return mask.reshape(1, 1, height, width)


def scored_pixels(observed: Tensor | None, valid: Tensor | None, height: int, width: int) -> Tensor | None:
    """The observed pixels of a height x width image whose degradation sees only data: those to hold out.

    ``observed``: (1, 1, height, width), the pixels with data (None: all); ``valid``: the output
    pixels backed by data in every input (a problem's ``valid``, (1, 1, H, W), H a multiple of
    height). A pixel under the guide's nodata would be scored against an estimate of what the
    result leaves nodata, made by the classic methods from the guide's fill: it stays in the fit
    instead. So does one whose neighbours' blocks have pixels without data: the degradations'
    kernels are up to three blocks wide (bicubic's, a sensor's MTF's, an estimated blur's), and
    every model compared is scored on the same pixels. Where fewer than two pixels are left,
    the observed ones.

    Example:
        >>> guide = torch.ones(1, 1, 8, 8, dtype=torch.bool)
        >>> guide[..., 0, 0] = False
        >>> scored_pixels(None, guide, 4, 4)[0, 0].int().tolist()
        [[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]
    """
    if valid is None or valid.shape[-2] % height or valid.shape[-1] % width:
        return observed
    fh, fw = valid.shape[-2] // height, valid.shape[-1] // width
    whole = valid.bool().cpu().reshape(1, 1, height, fh, width, fw).all(dim=5).all(dim=3)
    # A block's neighbours too (beyond the image's edge there is nothing to miss).
    reached = F.max_pool2d((~whole).float(), 3, stride=1, padding=1) > 0
    whole = whole & ~reached
    return observed if int(whole.sum()) < 2 else whole


def too_few_to_hold_out(observed: Tensor | None, share: float) -> bool:
    """Whether the observed pixels with data (a mask; None: all have data) are too few to hold two out at ``share``.

    A window at a swath's edge may see a handful of low-resolution pixels: held-out validation
    there would score a choice on one pixel or none, so it is fitted without.

    Example:
        >>> too_few_to_hold_out(torch.ones(1, 1, 4, 4), 0.1), too_few_to_hold_out(torch.ones(1, 1, 5, 5), 0.1)
        (True, False)
    """
    return share > 0 and observed is not None and float(observed.sum()) < 2 / share


def fill(image: Tensor, keep: Tensor) -> Tensor:
    """``image`` (1, C, h, w) with the pixels where ``keep`` is False replaced by the mean of their kept neighbours.

    Rings of 3 x 3 neighbours are filled from the outside in (a normalised convolution), so a
    pixel far from any kept one takes the value of the nearest ring.

    Example:
        >>> x = torch.arange(9.0).reshape(1, 1, 3, 3)
        >>> float(fill(x, x != 4)[0, 0, 1, 1])
        4.0
    """
    keep = keep.to(image.device).bool().expand(1, 1, *image.shape[-2:])
    if bool(keep.all()):
        return image
    if not bool(keep.any()):
        raise ValueError("nothing to fill from: every pixel is held out")
    c = image.shape[1]
    ones = torch.ones(c, 1, 3, 3, dtype=image.dtype, device=image.device)
    out = torch.where(keep, image, torch.zeros_like(image))
    have = keep.to(image.dtype)
    while True:
        total = F.conv2d(F.pad(out * have, (1, 1, 1, 1)), ones, groups=c)
        count = F.conv2d(F.pad(have, (1, 1, 1, 1)), ones[:1])
        new = (have == 0) & (count > 0)
        if not bool(new.any()):
            break
        out = torch.where(new, total / count.clamp_min(1), out)
        have = torch.where(new, torch.ones_like(have), have)
    return out
