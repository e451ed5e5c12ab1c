"""The data objective: sum_k w_k * loss_k(A_k x, y_k) over the data terms of one problem.

Nothing here reads a ground truth: a reference is only ever seen by a fit's callback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["LossKind", "Term", "data_objective", "gradient_mse", "terms_on"]

LossKind = Literal["mse", "gradient_mse"]


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
