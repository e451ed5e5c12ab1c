"""A progress bar for the fitting loop, fed by its log-step callback."""

from __future__ import annotations

import sys

import torch

__all__ = ["ProgressBar"]


class ProgressBar:
    """A tqdm bar fed at log steps with the loss (and PSNR against a reference when given)."""

    def __init__(self, total: int, *, quiet: bool, reference: torch.Tensor | None = None) -> None:
        self.bar = None
        self.reference = reference
        self.last = 0
        self.psnr: list[tuple[int, float]] = []
        if not quiet and total > 0:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="it", dynamic_ncols=True, file=sys.stderr, leave=False)

    def __call__(self, step: int, x: torch.Tensor, loss: float) -> None:
        info = {"loss": f"{loss:.3g}"}
        if self.reference is not None:
            from .metrics import psnr

            value = psnr(x.clamp(0, 1), self.reference.to(x.device))
            self.psnr.append((step, value))
            info["psnr"] = f"{value:.2f}"
        if self.bar is not None:
            self.bar.set_postfix(info, refresh=False)
            self.bar.update(step - self.last)
        self.last = step

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
