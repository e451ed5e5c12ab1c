"""G_theta(z, guide): the Guided Deep Decoder network, with no physics inside."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GuidedDeepDecoder", "Sharing", "code_shape", "drop_running_stats", "max_depth"]

Sharing = Literal["all", "partial", "none"]


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2)


class _ReflectionPad(nn.ReflectionPad2d):
    """Reflection padding in the dtype of its input, also under autocast.

    CPU autocast runs ``reflection_pad2d`` in float32: a bfloat16 activation would be copied to
    float32, padded, and copied back to bfloat16 by the next convolution, both ways in the
    backward pass too. Padding only copies values, so padding in bfloat16 gives the convolution
    the same input. Without those copies a CPU step at width 64 with channels-last and bf16
    took 0.46x the plain float32 one, against 0.62x before (``benchmarks/speed.py --device cpu``).
    """

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x)


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    # Reflection padding as in the authors' code (none for 1x1 convolutions).
    pad = (k - 1) // 2
    layers: list[nn.Module] = [_ReflectionPad(pad)] if pad else []
    layers.append(nn.Conv2d(cin, cout, k, stride))
    return nn.Sequential(*layers)


def _block(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    """conv -> batch norm -> LeakyReLU(0.2)."""
    return nn.Sequential(_conv(cin, cout, k, stride), nn.BatchNorm2d(cout), _act())


def _up(x: Tensor, like: Tensor) -> Tensor:
    # Upsample to the skip feature's size (not a fixed x2), so that any H x W works.
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class _EncoderLevel(nn.Module):
    """Stride-2 conv block then conv block: halves the size (ceil)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_block(width, width, 3, 2), _block(width, width, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class FRU(nn.Module):
    """Feature refinement unit: LeakyReLU(BN(conv1x1(x)) * sigmoid(LeakyReLU(conv1x1(g)))).

    The attention map comes from the guide's decoder features g at the same scale.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.attention = nn.Sequential(_conv(width, width, 1), _act(), nn.Sigmoid())
        self.conv = _conv(width, width, 1)
        self.norm = nn.BatchNorm2d(width)
        self.act = _act()

    def forward(self, guide: Tensor, x: Tensor) -> Tensor:
        return self.act(self.norm(self.conv(x)) * self.attention(guide))


class URU(nn.Module):
    """Upsampling refinement unit: norm(up(x)) * sigmoid(LeakyReLU(conv1x1(g))).

    x is upsampled (bilinear) to the size of the guide's encoder features g and normalised per
    channel without affine parameters.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.attention = nn.Sequential(_conv(width, width, 1), _act(), nn.Sigmoid())
        self.norm = nn.BatchNorm2d(width, affine=False)

    def forward(self, guide: Tensor, x: Tensor) -> Tensor:
        return self.norm(_up(x, guide)) * self.attention(guide)


def _levels(make: type[nn.Module] | object, n: int, shared: bool, *args: int) -> nn.ModuleList:
    if n <= 0:
        return nn.ModuleList()
    if shared:
        one = make(*args)  # type: ignore[operator]
        return nn.ModuleList([one] * n)
    return nn.ModuleList([make(*args) for _ in range(n)])  # type: ignore[operator]


def drop_running_stats(model: nn.Module) -> nn.Module:
    """Make every batch norm of ``model`` use batch statistics only, in place, and return it.

    The fit runs batch norm in training mode (as the authors do), where the output depends on
    the batch statistics alone: the running statistics are bookkeeping. Without them a training
    step has no buffer updates (fewer kernels, and a step CUDA graphs can capture), and the
    module normalises by batch statistics in evaluation mode too.

    Example:
        >>> net = drop_running_stats(GuidedDeepDecoder(1, 2, width=4, depth=2))
        >>> any("running" in k for k in net.state_dict())
        False
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.track_running_stats = False
            module.running_mean = None
            module.running_var = None
            module.num_batches_tracked = None
    return model


def code_shape(height: int, width: int, *, channels: int, depth: int = 5) -> tuple[int, int, int, int]:
    """Shape (1, channels, h, w) of the code z for a guide of ``height`` x ``width``.

    Each stride-2 level maps n pixels to ceil(n / 2).

    Example:
        >>> code_shape(184, 216, channels=8)
        (1, 8, 6, 7)
    """
    h, w = height, width
    for _ in range(depth):
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    return (1, channels, h, w)


def max_depth(height: int, width: int) -> int:
    """The most stride-2 levels that keep the coarsest features at least 2 x 2.

    Batch norm needs more than one value per channel, so a 1 x 1 level cannot be fitted.

    Example:
        >>> max_depth(32, 48), max_depth(184, 216)
        (4, 7)
    """
    depth, h, w = 0, height, width
    while math.ceil(h / 2) >= 2 and math.ceil(w / 2) >= 2:
        h, w, depth = math.ceil(h / 2), math.ceil(w / 2), depth + 1
    return depth


class GuidedDeepDecoder(nn.Module):
    """The Guided Deep Decoder of Uezato et al. (ECCV 2020).

    A guide encoder-decoder gives features at every scale; a deep decoder maps the code z
    (at the coarsest scale) to the output image, modulated at each level by a URU (attention
    from the guide's encoder features) and an FRU (attention from the guide's decoder features).

    Weight sharing across levels (``sharing``):

    - ``"all"``: one set of weights for every level of the encoder, the lateral skips, the guide
      decoder, the URU, the decoder convs and the FRU (the authors' hyperspectral release;
      245,151 parameters at width 64, 3 guide bands, 31 bands out).
    - ``"partial"``: as ``"all"`` but the guide decoder's upsampling convs and the URU attention
      have weights per level (the authors' pansharpening and denoising releases).
    - ``"none"``: every level has its own weights.

    Args:
        guide_channels: bands of the guide (1 PAN, 3 RGB, k MS).
        out_channels: bands of the output image.
        width: feature channels at every level.
        depth: number of stride-2 levels.
        code_channels: channels of z (default: ``out_channels``).
        sharing: weight sharing across levels, see above.

    Shape:
        guide (B, guide_channels, H, W), z (B, code_channels, h, w) with (h, w) from
        :func:`code_shape` -> (B, out_channels, H, W).

    Example:
        >>> net = GuidedDeepDecoder(3, 31, width=8, depth=3)
        >>> net(torch.rand(1, 3, 37, 50), torch.rand(code_shape(37, 50, channels=31, depth=3))).shape
        torch.Size([1, 31, 37, 50])
    """

    def __init__(
        self,
        guide_channels: int,
        out_channels: int,
        *,
        width: int = 64,
        depth: int = 5,
        code_channels: int | None = None,
        sharing: Sharing = "all",
    ) -> None:
        super().__init__()
        if sharing not in ("all", "partial", "none"):
            raise ValueError(f"sharing must be 'all', 'partial' or 'none', got {sharing!r}")
        for name, value in (("guide_channels", guide_channels), ("out_channels", out_channels), ("width", width)):
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.guide_channels = guide_channels
        self.out_channels = out_channels
        self.width = width
        self.depth = depth
        self.code_channels = code_channels or out_channels
        self.sharing = sharing
        every = sharing == "all"
        fixed = sharing != "none"

        self.guide_in = _block(guide_channels, width, 3)
        self.encoder = _levels(_EncoderLevel, depth, fixed, width)
        self.lateral = _levels(_block, depth - 1, fixed, width, width, 1)
        self.guide_up_first = _block(width, width, 3)
        self.guide_up = _levels(_block, depth - 1, every, 2 * width, width, 3)
        self.code_in = _block(self.code_channels, width, 1)
        self.uru = _levels(URU, depth, every, width)
        self.dec_conv = _levels(_block, depth, fixed, width, width, 3)
        self.fru = _levels(FRU, depth + 1, fixed, width)
        self.out = _conv(width, out_channels, 1)

    def code_shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Shape of z for a guide of ``height`` x ``width``."""
        return code_shape(height, width, channels=self.code_channels, depth=self.depth)

    def guide_features(self, guide: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Encoder features e_0..e_L (fine to coarse) and decoder features d_1..d_L (coarse to fine).

        They depend on the guide and the weights only, not on z.
        """
        if guide.ndim != 4 or guide.shape[1] != self.guide_channels:
            raise ValueError(f"guide must be (B, {self.guide_channels}, H, W), got shape {tuple(guide.shape)}")
        if max_depth(*guide.shape[-2:]) < self.depth:
            raise ValueError(
                f"a {guide.shape[-2]} x {guide.shape[-1]} guide is too small for {self.depth} levels "
                f"(at most {max_depth(*guide.shape[-2:])})"
            )
        enc = [self.guide_in(guide)]
        for level in self.encoder:
            enc.append(level(enc[-1]))
        depth = self.depth
        dec = [self.guide_up_first(_up(enc[depth], enc[depth - 1]))]
        for k in range(1, depth):
            merged = torch.cat((self.lateral[k - 1](enc[depth - k]), dec[-1]), dim=1)
            dec.append(self.guide_up[k - 1](_up(merged, enc[depth - k - 1])))
        return enc, dec

    def forward(self, guide: Tensor, z: Tensor) -> Tensor:
        enc, dec = self.guide_features(guide)
        depth = self.depth
        if z.ndim != 4 or z.shape[1] != self.code_channels or z.shape[-2:] != enc[depth].shape[-2:]:
            expected = (guide.shape[0], self.code_channels, *enc[depth].shape[-2:])
            raise ValueError(f"z must have shape {expected}, got {tuple(z.shape)}")
        x = self.fru[0](enc[depth], self.code_in(z))
        for k in range(1, depth + 1):
            x = self.uru[k - 1](enc[depth - k], x)
            x = self.dec_conv[k - 1](x)
            x = self.fru[k](dec[k - 1], x)
        # The output layer runs in float32 even under bf16 autocast: a bf16 image would be
        # quantised to 2^-8 of its value (about 54 dB PSNR), and a residual G - G_0 to noise.
        with torch.autocast(x.device.type, enabled=False):
            return self.out(x.float())
