"""The one progress bar of the package: steps of a fit, tiles of a run, jobs of a batch, runs of a bench."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["ProgressBar"]


class ProgressBar:
    """A tqdm bar on standard error (none when ``quiet``).

    As a fit's log-step callback (``bar(step, x, loss)``) it shows the loss, and the PSNR against
    a ``reference`` when one is given (kept in ``psnr``); elsewhere ``update(n)`` counts units.
    """

    def __init__(
        self,
        total: int,
        *,
        quiet: bool,
        reference: torch.Tensor | None = None,
        unit: str = "it",
        initial: int = 0,
        desc: str | None = None,
    ) -> None:
        self.bar = None
        self.reference = reference
        self.last = 0
        self.psnr: list[tuple[int, float]] = []
        if not quiet and total > 0:
            from tqdm import tqdm

            options = {"dynamic_ncols": True} if unit == "it" else {}
            self.bar = tqdm(total=total, initial=initial, unit=unit, file=sys.stderr, leave=False, desc=desc, **options)

    def __call__(self, step: int, x: torch.Tensor, loss: float) -> None:
        info = {"loss": f"{loss:.3g}"}
        if self.reference is not None:
            from .metrics import psnr

            value = psnr(x.clamp(0, 1), self.reference.to(x.device))
            self.psnr.append((step, value))
            info["psnr"] = f"{value:.2f}"
        if self.bar is not None:
            if self.bar.total is not None and step > self.bar.total:
                # A fit that goes on past the steps planned (a chosen fit given every pixel back,
                # which stops by itself): the bar grows with it.
                self.bar.total = step
            self.bar.set_postfix(info, refresh=False)
            self.bar.update(step - self.last)
        self.last = step

    def update(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def describe(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description(text)

    def set_postfix(self, **info: object) -> None:
        if self.bar is not None:
            self.bar.set_postfix(**info)

    def write(self, line: str) -> None:
        """Print a line to standard error without breaking the bar."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
