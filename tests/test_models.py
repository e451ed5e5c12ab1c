from __future__ import annotations

import pytest
import torch

from gdd.models import GuidedDeepDecoder, code_shape


def _count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_parameter_count_of_the_authors_hs_network() -> None:
    # The authors' HS release (models/GDD.py) at width 64 with 3 guide and 31 output bands:
    # 245,151 parameters, counted from their code.
    assert _count(GuidedDeepDecoder(3, 31, width=64, sharing="all")) == 245_151


def test_parameter_count_of_the_authors_pan_network() -> None:
    # The authors' PAN release at width 64, 1 guide band, 8 bands out, has 557,512 parameters
    # in the network, of which 78,080 sit in two modules it never calls (a shared `dc_up_conv`
    # of 73,920 and a `weight_map` of 4,160); we leave those out: 479,432.
    assert _count(GuidedDeepDecoder(1, 8, width=64, sharing="partial")) == 557_512 - 73_920 - 4_160


def test_sharing_orders_the_parameter_counts() -> None:
    counts = [_count(GuidedDeepDecoder(3, 31, width=16, sharing=s)) for s in ("all", "partial", "none")]
    assert counts[0] < counts[1] < counts[2]


@pytest.mark.parametrize("guide_bands", [1, 3, 8])
@pytest.mark.parametrize(("h", "w"), [(37, 50), (64, 64), (33, 17)])
def test_shapes_for_odd_sizes_and_guide_bands(guide_bands: int, h: int, w: int, gen: torch.Generator) -> None:
    net = GuidedDeepDecoder(guide_bands, 5, width=8, depth=4)
    z = torch.rand(code_shape(h, w, channels=5, depth=4), generator=gen)
    out = net(torch.rand(1, guide_bands, h, w, generator=gen), z)
    assert out.shape == (1, 5, h, w)
    assert torch.isfinite(out).all()


def test_code_shape_matches_the_encoder() -> None:
    net = GuidedDeepDecoder(1, 8, width=4)
    enc, dec = net.guide_features(torch.rand(1, 1, 184, 216))
    assert enc[-1].shape[-2:] == net.code_shape(184, 216)[-2:] == (6, 7)
    assert [d.shape[-1] for d in dec] == [e.shape[-1] for e in enc[-2::-1]]


def test_follows_device(device: torch.device) -> None:
    net = GuidedDeepDecoder(3, 4, width=8, depth=3).to(device)
    out = net(torch.rand(1, 3, 24, 24, device=device), torch.rand(net.code_shape(24, 24), device=device))
    assert out.device.type == device.type


def test_bad_inputs() -> None:
    net = GuidedDeepDecoder(3, 4, width=8, depth=3)
    with pytest.raises(ValueError, match="guide must be"):
        net(torch.rand(1, 2, 24, 24), torch.rand(1, 4, 3, 3))
    with pytest.raises(ValueError, match="z must have shape"):
        net(torch.rand(1, 3, 24, 24), torch.rand(1, 4, 4, 4))
    with pytest.raises(ValueError, match="sharing must be"):
        GuidedDeepDecoder(3, 4, sharing="some")  # type: ignore[arg-type]
