"""The data objective: sum_k w_k * loss_k(A_k x, y_k) over the data terms of one problem.

Nothing here reads a ground truth: a reference is only ever seen by a fit's callback.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = [
    "SEPARATED",
    "LossKind",
    "Term",
    "data_objective",
    "gradient_mse",
    "paired_separation",
    "pixel_errors",
    "runner_up",
    "separation",
    "terms_on",
]

LossKind = Literal["mse", "gradient_mse"]

#: Two estimates whose held-out errors lie this many standard errors apart (:func:`separation`)
#: are told apart by the held-out pixels (a two-sided paired test at about the 5 % level).
SEPARATED = 2.0


def gradient_mse(r: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared spatial gradient of a residual, as in the authors' pansharpening loss.

    L(r) = (sum (r[i, j+1] - r[i, j])^2 + sum (r[i+1, j] - r[i, j])^2) / (C H W) per image.
    With a ``mask`` (B, 1, H, W) of valid pixels, only differences between two valid pixels
    count, and H W becomes the number of valid pixels.

    Example:
        >>> float(gradient_mse(torch.ones(1, 1, 4, 4)))
        0.0
    """
    c, h, w = r.shape[-3:]
    if mask is None:
        dh = (r[..., 1:, :] - r[..., :-1, :]).square().sum()
        dw = (r[..., :, 1:] - r[..., :, :-1]).square().sum()
        return (dh + dw) / (r.shape[0] * c * h * w)
    mh = mask[..., 1:, :] * mask[..., :-1, :]
    mw = mask[..., :, 1:] * mask[..., :, :-1]
    dh = ((r[..., 1:, :] - r[..., :-1, :]).square() * mh).sum()
    dw = ((r[..., :, 1:] - r[..., :, :-1]).square() * mw).sum()
    return (dh + dw) / (c * mask.sum())


@dataclass
class Term:
    """One data term w * loss(A x, y) of the objective.

    ``loss="mse"`` is the mean squared error; ``"gradient_mse"`` compares spatial gradients
    only (:func:`gradient_mse` of A x - y). ``mask`` (1, 1, h, w), 1 where the target holds
    data and 0 at nodata pixels, leaves those pixels out of the loss (the mean runs over the
    valid ones only: a missing pixel is never taken as a 0).
    """

    operator: nn.Module
    target: Tensor
    weight: float = 1.0
    loss: LossKind = "mse"
    name: str = ""
    mask: Tensor | None = None

    def __post_init__(self) -> None:
        if self.loss not in ("mse", "gradient_mse"):
            raise ValueError(f"loss must be 'mse' or 'gradient_mse', got {self.loss!r}")
        if self.mask is not None and (self.mask.ndim != 4 or self.mask.shape[1] != 1):
            raise ValueError(f"a mask must be (B, 1, H, W), got shape {tuple(self.mask.shape)}")

    def __call__(self, x: Tensor) -> Tensor:
        r = self.operator(x) - self.target
        if self.loss == "gradient_mse":
            return gradient_mse(r, self.mask)
        if self.mask is None:
            return r.square().mean()
        return (r.square() * self.mask).sum() / (self.mask.sum() * r.shape[1])


def data_objective(x: Tensor, terms: Sequence[Term]) -> Tensor:
    """The data objective sum_k w_k * loss_k(A_k x, y_k) of an estimate, a 0-d tensor.

    Example:
        >>> from gdd.operators import Identity
        >>> y = torch.ones(1, 1, 4, 4)
        >>> float(data_objective(y, [Term(Identity(), y), Term(Identity(), 0 * y, weight=0.5)]))
        0.5
    """
    return sum((t.weight * t(x) for t in terms), torch.zeros((), device=x.device, dtype=x.dtype))


def terms_on(terms: Sequence[Term], device: torch.device) -> list[Term]:
    """The terms with their operators on ``device`` and float32 targets and masks there.

    New Term objects: the caller's keep their targets and masks where they were (the operators,
    modules, are moved in place, so that a learnable one is fitted where the caller sees it).
    """
    return [
        replace(
            t,
            operator=t.operator.to(device),
            target=t.target.to(device=device, dtype=torch.float32),
            mask=None if t.mask is None else t.mask.to(device=device, dtype=torch.float32),
        )
        for t in terms
    ]


def pixel_errors(x: Tensor, validation: Sequence[Term]) -> Tensor:
    """The squared error of an estimate (1, C, H, W) at each held-out pixel (mean over its bands), of every term.

    The terms are validation terms: mean squared errors whose masks mark the held-out pixels.
    """
    out = []
    with torch.no_grad():
        for t in validation:
            if t.mask is None or t.loss != "mse":
                raise ValueError("a validation term is a mean squared error with a mask of the held-out pixels")
            r = t.operator.to(x.device)(x.float()) - t.target.to(x.device, torch.float32)
            held = t.mask.to(x.device).reshape(-1) > 0
            out.append(r.square().mean(dim=1).reshape(-1)[held].double().cpu())
    return torch.cat(out)


def separation(better: Tensor, other: Tensor, validation: Sequence[Term]) -> float:
    """How many standard errors ``better``'s held-out error lies below ``other``'s.

    The two estimates are compared pixel by pixel on the same held-out pixels (a paired
    comparison): the mean of the differences of their squared errors over its standard error.
    About 2 or more: the held-out pixels tell the two apart; below 1: the scores differ by less
    than their own sampling noise, and either estimate could have been chosen. A small share of a
    small image leaves few pixels to score with (a 16 x 16 low-resolution image, 10 %: 26).

    Example:
        >>> from gdd.operators import Identity
        >>> y = torch.zeros(1, 1, 8, 8)
        >>> mask = torch.zeros(1, 1, 8, 8); mask[..., ::2, ::2] = 1
        >>> v = [Term(Identity(), y, mask=mask)]
        >>> noise = 0.1 * torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> separation(noise, 3 * noise, v) > 2, abs(separation(noise, noise.flip(-1), v)) < 2
        (True, True)

    Returns:
        the number of standard errors; NaN where it is not defined (fewer than two held-out
        pixels, or differences that are all equal).
    """
    return paired_separation(pixel_errors(better, validation), pixel_errors(other, validation))


def paired_separation(better: Tensor, other: Tensor) -> float:
    """:func:`separation` of two estimates' errors at the same held-out pixels (:func:`pixel_errors`)."""
    d = other - better
    se = float(d.std()) / d.numel() ** 0.5 if d.numel() > 1 else 0.0
    return float(d.mean()) / se if se > 0 else float("nan")


def runner_up(chosen: str, scores: Mapping[str, float], errors: Mapping[str, Tensor]) -> dict[str, object]:
    """The candidate of second-lowest held-out error and how far the chosen one is ahead of it.

    Args:
        chosen: the chosen candidate's name.
        scores: each candidate's held-out error.
        errors: each candidate's errors at the held-out pixels (:func:`pixel_errors`); a
            candidate without them is left out.

    Returns:
        ``{"runner_up": name, "separation": z}`` (:func:`paired_separation`: the chosen
        candidate's error below the runner-up's, in standard errors; left out where it is not
        defined); empty when there is no other candidate.
    """
    others = [k for k in scores if k != chosen and k in errors]
    if chosen not in errors or not others:
        return {}
    name = min(others, key=lambda k: scores[k])
    z = paired_separation(errors[chosen], errors[name])
    return {"runner_up": name} if math.isnan(z) else {"runner_up": name, "separation": z}
