"""The UV-space texture GAN of seed 000 (sections 3.2.1, 3.2.2 and 4.3), on the ConvMesh generator.

Generator: z (64) -> linear -> C x h0 x w0 -> residual blocks (BN, ReLU) with nearest upsampling
between them -> a texture (or half a texture, mirrored to full width for objects with a reflection
symmetry). Position-based attention sits after the second block: query and key come from a learnable
positional embedding, so which texels attend to which is learned once for the texture layout (the
training textures are spatially aligned: texel (i, j) is always the same spot on the object) and the
maps could be precomputed at inference. ``attention="self"`` takes query and key from the features
instead (the seed's comparison), ``"none"`` is ConvMesh's plain generator.

Discriminator: two patch discriminators, the second on the input downsampled by 2, so its receptive
field in texels is twice the first's. Each sees RGB, the visibility mask and a positional embedding of
the texture's height and width (``"learned"``, ``"fixed"`` sin-cos, or ``"none"`` as in ConvMesh): a
small-receptive-field patch discriminator cannot tell where its patch lies, and texture layouts are
aligned, so knowing the position lets it specialise per region (seed 000, Table 2: the largest gain).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

ATTENTION_MODES = ("none", "position", "self")
EMBEDDING_MODES = ("none", "fixed", "learned")
SYMMETRY_MODES = ("none", "width")


class ResBlock(nn.Module):
    """BN-ReLU-conv3-BN-ReLU-conv3 plus a (1x1 when the width changes) skip; optional 2x upsampling first."""

    def __init__(self, cin: int, cout: int, upsample: bool):
        super().__init__()
        self.upsample = upsample
        self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, cout, 3, padding=1),
                                  nn.BatchNorm2d(cout), nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.skip(x) + self.body(x)


class PositionAttention(nn.Module):
    """``out = BN(attn(Q, K) V) + F`` (seed 000 eq. 1) on features F (N, C, h, w).

    mode "position": Q, K = 1x1 convs of a learnable embedding P (1, qk, h, w); "self": of F.
    V = 1x1 conv of F; ``heads`` heads split the query/key and value channels."""

    def __init__(self, channels: int, height: int, width: int, mode: str = "position", qk_channels: int = 32,
                 heads: int = 4):
        super().__init__()
        if mode not in ("position", "self"):
            raise ValueError(f"PositionAttention mode must be 'position' or 'self', got {mode!r}")
        if qk_channels % heads or channels % heads:
            raise ValueError(f"{heads} heads must divide qk_channels {qk_channels} and channels {channels}")
        self.mode, self.heads = mode, heads
        src = qk_channels if mode == "position" else channels
        if mode == "position":
            self.embedding = nn.Parameter(torch.randn(1, qk_channels, height, width) * 0.1)
        self.query = nn.Conv2d(src, qk_channels, 1)
        self.key = nn.Conv2d(src, qk_channels, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.norm = nn.BatchNorm2d(channels)

    def attention_maps(self, features: torch.Tensor | None = None) -> torch.Tensor:
        """(heads, h*w, h*w) for "position" (independent of the sample), (N, heads, h*w, h*w) for "self"."""
        src = self.embedding if self.mode == "position" else features
        n, _, h, w = src.shape
        q = self.query(src).reshape(n, self.heads, -1, h * w)
        k = self.key(src).reshape(n, self.heads, -1, h * w)
        a = torch.softmax(q.transpose(2, 3) @ k / math.sqrt(q.shape[2]), dim=-1)  # (n, heads, hw, hw)
        return a[0] if self.mode == "position" else a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        a = self.attention_maps(x)
        v = self.value(x).reshape(n, self.heads, c // self.heads, h * w)
        out = (v @ a.transpose(-1, -2)).reshape(n, c, h, w)  # each output texel: a mix of the values
        return self.norm(out) + x


class TextureGenerator(nn.Module):
    """z (N, latent) -> texture (N, 3, H, W) in [0, 1].

    ``out_size`` (H, W) is the texture; with ``symmetry="width"`` the network makes the left half
    (H, W/2) and mirrors it. The first feature map is (H_g / 2^upsamplings, W_g / 2^upsamplings) for
    the generated (half) size (H_g, W_g); ``upsamplings + 1`` residual blocks; channels start at
    ``channels`` and halve after the second block, never below ``min_channels``."""

    def __init__(self, out_size: tuple[int, int], latent: int = 64, channels: int = 512, upsamplings: int = 6,
                 min_channels: int = 16, attention: str = "position", symmetry: str = "none",
                 qk_channels: int = 32, heads: int = 4):
        super().__init__()
        if attention not in ATTENTION_MODES:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}")
        if symmetry not in SYMMETRY_MODES:
            raise ValueError(f"symmetry must be one of {SYMMETRY_MODES}, got {symmetry!r}")
        h, w = int(out_size[0]), int(out_size[1])
        gw = w // 2 if symmetry == "width" else w
        f = 2 ** upsamplings
        if h % f or gw % f or (symmetry == "width" and w % 2):
            raise ValueError(f"texture size {h}x{w} (generated part {h}x{gw}) is not divisible by 2^{upsamplings}")
        self.out_size, self.latent, self.symmetry, self.attention_mode = (h, w), latent, symmetry, attention
        self.h0, self.w0 = h // f, gw // f
        widths = [max(channels // 2 ** max(0, i - 1), min_channels) for i in range(upsamplings + 2)]
        self.channels0 = widths[0]
        self.fc = nn.Linear(latent, widths[0] * self.h0 * self.w0)
        self.blocks = nn.ModuleList(ResBlock(widths[i], widths[i + 1], upsample=i > 0) for i in range(upsamplings + 1))
        # "the second layer" (seed 000, 4.3): after block 1, at twice the first map's resolution
        self.attention = (None if attention == "none" else
                          PositionAttention(widths[2], 2 * self.h0, 2 * self.w0, attention, qk_channels, heads))
        self.to_rgb = nn.Sequential(nn.BatchNorm2d(widths[-1]), nn.ReLU(), nn.Conv2d(widths[-1], 3, 3, padding=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).reshape(z.shape[0], self.channels0, self.h0, self.w0)
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == 1 and self.attention is not None:
                x = self.attention(x)
        x = torch.sigmoid(self.to_rgb(x))
        if self.symmetry == "width":
            x = torch.cat([x, x.flip(-1)], dim=-1)
        return x


def sincos_embedding(channels: int, height: int, width: int) -> torch.Tensor:
    """(channels, H, W) sin/cos of the texel's row and column at octave frequencies (channels % 4 == 0)."""
    if channels % 4:
        raise ValueError(f"a sin-cos embedding needs a multiple of 4 channels, got {channels}")
    y = (torch.arange(height, dtype=torch.float32) + 0.5) / height
    x = (torch.arange(width, dtype=torch.float32) + 0.5) / width
    maps = []
    for k in range(channels // 4):
        for coord, along in ((y[:, None].expand(height, width), 0), (x[None, :].expand(height, width), 1)):
            maps += [torch.sin(math.pi * 2 ** k * coord), torch.cos(math.pi * 2 ** k * coord)]
    return torch.stack(maps)


def patch_receptive_field(downsamplings: int) -> int:
    """Receptive field in input texels of :class:`PatchDiscriminator` with ``downsamplings`` stride-2 4x4
    convolutions followed by a stride-1 3x3 convolution and the 1x1 output."""
    rf, jump = 1, 1
    for _ in range(downsamplings):
        rf, jump = rf + 3 * jump, jump * 2
    return rf + 2 * jump


def downsamplings_for(receptive_field: float) -> int:
    """The number of stride-2 layers whose receptive field is closest to ``receptive_field`` (at least 1)."""
    return min(range(1, 8), key=lambda n: (abs(patch_receptive_field(n) - receptive_field), n))


class PatchDiscriminator(nn.Module):
    """(N, cin, H, W) -> patch logits (N, 1, H / 2^d, W / 2^d); receptive field :func:`patch_receptive_field`."""

    def __init__(self, cin: int, downsamplings: int, channels: int = 64, max_channels: int = 256):
        super().__init__()
        layers, c = [], cin
        for i in range(downsamplings):
            cout = min(channels * 2 ** i, max_channels)
            layers += [nn.Conv2d(c, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c = cout
        layers += [nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(c, 1, 1)]
        self.net = nn.Sequential(*layers)
        self.downsamplings = downsamplings

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TextureDiscriminator(nn.Module):
    """Two-scale patch discriminator on (texture (N, 3, H, W), visibility (N, 1, H, W)) -> list of two
    patch-logit maps (full scale, half scale).

    ``receptive_field`` is the first scale's receptive field in texels (the second sees twice as far);
    ``embedding`` ("none" | "fixed" | "learned") adds ``embedding_channels`` positional channels of the
    texture's H x W at each scale (learned: one parameter per scale at that scale's resolution).
    ``image_channels``: the channels of ``texture`` (3 for RGB; the category GAN stacks RGB and a
    deformation map, 6)."""

    def __init__(self, size: tuple[int, int], receptive_field: float = 16.0, embedding: str = "learned",
                 embedding_channels: int = 8, channels: int = 64, max_channels: int = 256, image_channels: int = 3):
        super().__init__()
        if embedding not in EMBEDDING_MODES:
            raise ValueError(f"embedding must be one of {EMBEDDING_MODES}, got {embedding!r}")
        h, w = int(size[0]), int(size[1])
        self.size, self.embedding_mode = (h, w), embedding
        e = 0 if embedding == "none" else embedding_channels
        n = downsamplings_for(receptive_field)
        self.scales = nn.ModuleList(PatchDiscriminator(image_channels + 1 + e, n, channels, max_channels)
                                    for _ in range(2))
        self.receptive_fields = (patch_receptive_field(n), 2 * patch_receptive_field(n))
        if embedding == "learned":
            self.embeddings = nn.ParameterList(nn.Parameter(torch.randn(1, e, h // s, w // s) * 0.5) for s in (1, 2))
        elif embedding == "fixed":
            for i, s in enumerate((1, 2)):
                self.register_buffer(f"fixed{i}", sincos_embedding(e, h // s, w // s)[None], persistent=False)

    def _embedding(self, i: int) -> torch.Tensor | None:
        if self.embedding_mode == "learned":
            return self.embeddings[i]
        if self.embedding_mode == "fixed":
            return getattr(self, f"fixed{i}")
        return None

    def forward(self, texture: torch.Tensor, visibility: torch.Tensor) -> list[torch.Tensor]:
        if texture.shape[-2:] != self.size:
            raise ValueError(f"discriminator built for {self.size} textures, got {tuple(texture.shape[-2:])}")
        x = torch.cat([texture, visibility], dim=1)
        outs = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 2)
            emb = self._embedding(i)
            inp = x if emb is None else torch.cat([x, emb.expand(x.shape[0], -1, -1, -1)], dim=1)
            outs.append(d(inp))
        return outs
