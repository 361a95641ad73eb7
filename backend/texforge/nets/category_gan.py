"""The category 3D GAN (seed 002, section 3.1, eqs. 1-3; ConvMesh): one generator makes a deformation
map and a texture map of the ConvMesh template from one latent, two discriminators judge them.

Generator: z (latent) -> linear -> C x h0 x w0 -> a shared trunk of two residual blocks (the second
upsamples; the texture GAN's position / self attention follows it, as in
:class:`texforge.nets.texture_gan.TextureGenerator`) -> two heads of upsampling residual blocks: the
texture head (sigmoid, (3, Ht, Wt) in [0, 1]) and the deformation head ((3, Hd, Wd) displacements in
world x, y, z, i.e. ``DeformationMapModel.displacement_map`` with scale 1 and no frames). Both maps are
in the template's UV layout, so the trunk's features are aligned with both (texel (i, j) is one spot
on the surface for shape and colour alike). The deformation head's last convolution starts at zero:
an untrained generator makes the template sphere, and training grows shape from there.

``symmetry="x"``: bilateral symmetry about the plane x = 0 (seed 002 / DESIGN "Template"). On the
ConvMesh sphere (longitude phi = 2 pi u, x = cos phi) the mirror maps u to 0.5 - u (mod 1), an exact
permutation of texel columns; the deformation's x channel changes sign. Both maps are averaged with
their mirror image, so every output is exactly symmetric.

Discriminators:

- :class:`UVDiscriminator` (seed 002's D_uv): the texture GAN's two-scale patch discriminator
  (:class:`~texforge.nets.texture_gan.TextureDiscriminator`, with its positional-embedding switch)
  on the texture masked by visibility, stacked with the deformation map resized to the texture's
  size, plus the visibility.
- :class:`ImageDiscriminator` (seed 002's D_I, a PatchGAN): RGB + silhouette of rendered views.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .texture_gan import ATTENTION_MODES, PatchDiscriminator, PositionAttention, ResBlock, TextureDiscriminator, \
    downsamplings_for, patch_receptive_field

CATEGORY_SYMMETRY_MODES = ("none", "x")


def mirror_columns(width: int) -> torch.Tensor:
    """Column permutation (W,) of the x = 0 mirror on the ConvMesh UV layout: texel centre
    u_j = (j + 0.5) / W maps to 0.5 - u_j (mod 1), which is column (W/2 - 1 - j) mod W."""
    if width % 2:
        raise ValueError(f"x-symmetry needs an even map width, got {width}")
    return torch.tensor([(width // 2 - 1 - j) % width for j in range(width)], dtype=torch.long)


def symmetrize(texture: torch.Tensor, deformation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The average of the maps and their x = 0 mirror image (exactly symmetric outputs)."""
    tex_m = texture.index_select(-1, mirror_columns(texture.shape[-1]).to(texture.device))
    def_m = deformation.index_select(-1, mirror_columns(deformation.shape[-1]).to(deformation.device))
    sign = torch.tensor([-1.0, 1.0, 1.0], dtype=deformation.dtype, device=deformation.device).view(1, 3, 1, 1)
    return 0.5 * (texture + tex_m), 0.5 * (deformation + def_m * sign)


def _log2_ratio(big: int, small: int, what: str) -> int:
    k = int(round(math.log2(big / small))) if big >= small else -1
    if k < 0 or small * 2 ** k != big:
        raise ValueError(f"{what}: {big} is not {small} times a power of two")
    return k


class CategoryGenerator(nn.Module):
    """z (N, latent) -> (texture (N, 3, Ht, Wt) in [0, 1], deformation (N, 3, Hd, Wd)).

    The first feature map is the texture size / 2^``texture_upsamplings``; the trunk doubles it once;
    the texture head makes the remaining ``texture_upsamplings - 1`` doublings, the deformation head
    doubles the trunk's height up to Hd and then resamples the width to Wd (area). Channels start at
    ``channels`` and halve per block after the first, never below ``min_channels``."""

    def __init__(self, texture_size: tuple[int, int] = (64, 128), deformation_size: tuple[int, int] = (32, 32),
                 latent: int = 64, channels: int = 128, texture_upsamplings: int = 4, min_channels: int = 16,
                 attention: str = "position", symmetry: str = "none", qk_channels: int = 32, heads: int = 4,
                 deformation_scale: float = 1.0):
        super().__init__()
        if attention not in ATTENTION_MODES:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}")
        if symmetry not in CATEGORY_SYMMETRY_MODES:
            raise ValueError(f"symmetry must be one of {CATEGORY_SYMMETRY_MODES}, got {symmetry!r}")
        if texture_upsamplings < 1:
            raise ValueError("the generator needs at least one upsampling (the trunk's)")
        ht, wt = int(texture_size[0]), int(texture_size[1])
        hd, wd = int(deformation_size[0]), int(deformation_size[1])
        f = 2 ** texture_upsamplings
        if ht % f or wt % f:
            raise ValueError(f"texture size {ht}x{wt} is not divisible by 2^{texture_upsamplings}")
        if symmetry == "x" and (wt % 2 or wd % 2):
            raise ValueError(f"x-symmetry needs even map widths, got texture {wt} and deformation {wd}")
        self.texture_size, self.deformation_size = (ht, wt), (hd, wd)
        self.latent, self.symmetry, self.attention_mode = latent, symmetry, attention
        self.deformation_scale = float(deformation_scale)
        self.h0, self.w0 = ht // f, wt // f
        trunk_h = 2 * self.h0
        def_ups = _log2_ratio(hd, trunk_h, f"deformation height (trunk height {trunk_h})")

        def width(i: int) -> int:
            return max(channels // 2 ** i, min_channels)

        self.channels0 = channels
        self.fc = nn.Linear(latent, channels * self.h0 * self.w0)
        self.trunk = nn.ModuleList([ResBlock(channels, channels, upsample=False),
                                    ResBlock(channels, width(1), upsample=True)])
        # the texture GAN's "second layer" attention (seed 000, 4.3), here shared by both maps
        self.attention = (None if attention == "none" else
                          PositionAttention(width(1), trunk_h, 2 * self.w0, attention, qk_channels, heads))
        self.texture_head = nn.Sequential(*[ResBlock(width(1 + i), width(2 + i), upsample=True)
                                            for i in range(texture_upsamplings - 1)])
        ct = width(texture_upsamplings)
        self.to_rgb = nn.Sequential(nn.BatchNorm2d(ct), nn.ReLU(), nn.Conv2d(ct, 3, 3, padding=1))
        self.deformation_head = nn.Sequential(*[ResBlock(width(1 + i), width(2 + i), upsample=True)
                                                for i in range(def_ups)])
        cd = width(1 + def_ups)
        last = nn.Conv2d(cd, 3, 3, padding=1)
        nn.init.zeros_(last.weight)  # the sphere at the start (ConvMesh: output layer initialised at zero)
        nn.init.zeros_(last.bias)
        self.to_deformation = nn.Sequential(nn.BatchNorm2d(cd), nn.ReLU(), last)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.fc(z).reshape(z.shape[0], self.channels0, self.h0, self.w0)
        for block in self.trunk:
            x = block(x)
        if self.attention is not None:
            x = self.attention(x)
        texture = torch.sigmoid(self.to_rgb(self.texture_head(x)))
        deformation = self.to_deformation(self.deformation_head(x)) * self.deformation_scale
        if tuple(deformation.shape[-2:]) != self.deformation_size:
            deformation = F.adaptive_avg_pool2d(deformation, self.deformation_size)
        if self.symmetry == "x":
            texture, deformation = symmetrize(texture, deformation)
        return texture, deformation


class UVDiscriminator(nn.Module):
    """D_uv: (texture (N, 3, Ht, Wt), deformation (N, 3, Hd, Wd), visibility (N, 1, Ht, Wt)) -> two
    patch-logit maps (full and half texture scale).

    The texture is multiplied by the visibility (unseen texels are zero in real and fake alike); the
    deformation, defined everywhere, is resized to the texture's size (bilinear) and multiplied by
    ``deformation_gain`` so its values span about the texture's range."""

    def __init__(self, texture_size: tuple[int, int], receptive_field: float = 8.0, embedding: str = "learned",
                 embedding_channels: int = 8, channels: int = 32, max_channels: int = 128,
                 deformation_gain: float = 2.0):
        super().__init__()
        self.deformation_gain = float(deformation_gain)
        self.patches = TextureDiscriminator(texture_size, receptive_field=receptive_field, embedding=embedding,
                                            embedding_channels=embedding_channels, channels=channels,
                                            max_channels=max_channels, image_channels=6)

    def forward(self, texture: torch.Tensor, deformation: torch.Tensor, visibility: torch.Tensor) -> list[torch.Tensor]:
        size = tuple(texture.shape[-2:])
        d = deformation if tuple(deformation.shape[-2:]) == size else \
            F.interpolate(deformation, size=size, mode="bilinear", align_corners=False)
        tex = torch.where(visibility > 0, texture, torch.zeros((), device=texture.device)) * visibility
        return self.patches(torch.cat([tex, d * self.deformation_gain], dim=1), visibility)


class ImageDiscriminator(nn.Module):
    """D_I, a PatchGAN: (rgb (N, 3, H, W), silhouette (N, 1, H, W)) -> patch logits; receptive field
    ``receptive_field`` pixels (rounded to the nearest the stride-2 stack can make)."""

    def __init__(self, receptive_field: float = 22.0, channels: int = 32, max_channels: int = 128):
        super().__init__()
        n = downsamplings_for(receptive_field)
        self.receptive_field = patch_receptive_field(n)
        self.net = PatchDiscriminator(4, n, channels, max_channels)

    def forward(self, rgb: torch.Tensor, silhouette: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([rgb, silhouette], dim=1))
