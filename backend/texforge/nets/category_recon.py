"""The category reconstruction network (seed 004's inverse-graphics network on the ConvMesh template):
one image -> a deformation map, a UV texture and a camera.

Frame. The maps are predicted in the *input view's frame*: the world turned about +Z so that the input
camera sits at azimuth 0. An image alone cannot tell a vase's label at world azimuth 30 degrees seen from
azimuth 30 from the same label at 90 seen from 90, so maps in the world frame would average such cases into
blur; in the input's frame they are unambiguous. :func:`turn_maps_about_z` then turns them into the world
frame by the input camera's azimuth (known for a collection's views, predicted for a lone photo): on the
ConvMesh sphere, u is longitude, so a turn about z is a shift of the maps along u (with the x, y channels
of the displacement rotated). The result has exactly the meaning of
``DeformationMapModel.displacement_map`` (world x, y, z displacements of the unit sphere).

Camera. Elevation and distance relative to the collection's :class:`CameraDistribution` ranges (tanh
into the range), and the world azimuth as (sin, cos) (for placing a lone photo's result; training uses
the known one).

The output layer of the deformation decoder starts at zero (training starts from the sphere); the
texture starts mid-grey.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), nn.GroupNorm(min(8, cout), cout), nn.LeakyReLU(0.2))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1),
                         nn.GroupNorm(min(8, cout), cout), nn.LeakyReLU(0.2))


class _MapDecoder(nn.Module):
    """latent -> (out, H, W) from a (channels, H / 2^k, W / 2^k) seed grid and k upsamplings."""

    def __init__(self, latent: int, size: tuple[int, int], channels: int, out: int, upsamplings: int,
                 min_channels: int = 16):
        super().__init__()
        h, w = size
        if h % (2 ** upsamplings) or w % (2 ** upsamplings):
            raise ValueError(f"map size {h}x{w} is not divisible by 2^{upsamplings}")
        self.seed_shape = (channels, h >> upsamplings, w >> upsamplings)
        self.fc = nn.Linear(latent, channels * self.seed_shape[1] * self.seed_shape[2])
        blocks, c = [], channels
        for _ in range(upsamplings):
            blocks.append(_up(c, max(min_channels, c // 2)))
            c = max(min_channels, c // 2)
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Conv2d(c, out, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.fc(z), 0.2).view(z.shape[0], *self.seed_shape)
        return self.out(self.blocks(x))


class CategoryReconstructor(nn.Module):
    """images (B, 3, S, S) in [0, 1] -> dict with ``deformation`` (B, 3, Hd, Wd) in the input view's
    frame, ``texture`` (B, 3, Ht, Wt) in [0, 1] in that frame (row 0 = v = 1), ``camera`` (B, 4) raw
    (see :meth:`decode_camera`).

    ``channels`` is the first encoder stage's width (doubling per stage up to ``8 * channels``);
    ``elevation_range`` / ``distance_range`` are the collection's camera ranges."""

    def __init__(self, image_size: int = 64, channels: int = 32, latent: int = 256,
                 deformation_size: tuple[int, int] = (32, 32), texture_size: tuple[int, int] = (64, 128),
                 elevation_range: tuple[float, float] = (-10.0, 40.0), distance_range: tuple[float, float] = (2.6, 3.4)):
        super().__init__()
        stages = int(round(math.log2(image_size / 4)))
        if image_size < 8 or 4 * 2 ** stages != image_size:
            raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
        layers, c = [], 3
        for k in range(stages):
            cout = channels * min(2 ** k, 8)
            layers.append(_down(c, cout))
            c = cout
        self.encoder = nn.Sequential(*layers)
        self.to_latent = nn.Sequential(nn.Flatten(), nn.Linear(c * 16, latent), nn.LeakyReLU(0.2))
        dh, dw = deformation_size
        self.deformation = _MapDecoder(latent, deformation_size, 4 * channels, 3, int(math.log2(min(dh, dw) // 4)))
        th, tw = texture_size
        self.texture = _MapDecoder(latent, texture_size, 4 * channels, 3, int(math.log2(min(th, tw) // 4)))
        self.camera = nn.Linear(latent, 4)
        nn.init.zeros_(self.deformation.out.weight)
        nn.init.zeros_(self.deformation.out.bias)
        nn.init.zeros_(self.texture.out.bias)          # sigmoid(0) = mid-grey
        nn.init.zeros_(self.camera.weight)
        nn.init.zeros_(self.camera.bias)
        self.register_buffer("elevation_range", torch.tensor([float(v) for v in elevation_range]))
        self.register_buffer("distance_range", torch.tensor([float(v) for v in distance_range]))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.to_latent(self.encoder(images * 2.0 - 1.0))
        return {"deformation": self.deformation(z), "texture": torch.sigmoid(self.texture(z)),
                "camera": self.camera(z)}

    def camera_targets(self, spherical: torch.Tensor) -> torch.Tensor:
        """Known cameras (B, 3) azimuth / elevation degrees, distance -> the (B, 4) values the raw
        camera output is trained towards: sin, cos of azimuth, elevation and distance scaled to [-1, 1]
        of the collection's ranges (outside the ranges they go beyond +-1: no clamp hides a mismatch)."""
        a = torch.deg2rad(spherical[:, 0])
        return torch.stack([torch.sin(a), torch.cos(a), _to_unit(spherical[:, 1], self.elevation_range),
                            _to_unit(spherical[:, 2], self.distance_range)], 1)

    def camera_prediction(self, raw: torch.Tensor) -> torch.Tensor:
        """(B, 4) raw -> the comparable values of :meth:`camera_targets` (elevation, distance via tanh)."""
        return torch.cat([raw[:, :2], torch.tanh(raw[:, 2:])], 1)

    def decode_camera(self, raw: torch.Tensor) -> torch.Tensor:
        """(B, 4) raw -> (B, 3) azimuth degrees in [0, 360), elevation degrees, distance."""
        az = torch.rad2deg(torch.atan2(raw[:, 0], raw[:, 1])) % 360.0
        el = _from_unit(torch.tanh(raw[:, 2]), self.elevation_range)
        dist = _from_unit(torch.tanh(raw[:, 3]), self.distance_range)
        return torch.stack([az, el, dist], 1)


def _to_unit(x: torch.Tensor, rng: torch.Tensor) -> torch.Tensor:
    mid, half = 0.5 * (rng[0] + rng[1]), (0.5 * (rng[1] - rng[0])).clamp_min(1e-6)
    return (x - mid) / half


def _from_unit(x: torch.Tensor, rng: torch.Tensor) -> torch.Tensor:
    return 0.5 * (rng[0] + rng[1]) + 0.5 * (rng[1] - rng[0]) * x


def turn_maps_about_z(maps: torch.Tensor, azimuth_deg: torch.Tensor, vector: bool) -> torch.Tensor:
    """UV-sphere maps (B, C, H, W) of a surface turned by ``azimuth_deg`` (B,) about +Z: the map
    shifted along u (longitude; bilinear, wrapping round the seam) and, for ``vector`` maps (C = 3,
    world x, y, z displacements), its x, y channels rotated by the same angle. Exact for whole-texel
    shifts; between texels it is the bilinear interpolation of the map."""
    b, c, h, w = maps.shape
    shift = (azimuth_deg.to(maps.dtype) / 360.0).view(b, 1, 1)
    u = (torch.arange(w, dtype=maps.dtype, device=maps.device) + 0.5) / w
    src = torch.remainder(u.view(1, 1, w) - shift, 1.0).expand(b, h, w)          # where each texel comes from
    x = (src * w + 1.0) / (w + 2) * 2.0 - 1.0                                   # inside the one-column wrap pad
    y = ((torch.arange(h, dtype=maps.dtype, device=maps.device) + 0.5) / h * 2.0 - 1.0).view(1, h, 1).expand(b, h, w)
    wrapped = torch.cat([maps[..., -1:], maps, maps[..., :1]], -1)
    out = F.grid_sample(wrapped, torch.stack([x, y], -1), mode="bilinear", padding_mode="border", align_corners=False)
    if not vector:
        return out
    if c != 3:
        raise ValueError(f"a vector map has 3 channels (x, y, z), got {c}")
    a = torch.deg2rad(azimuth_deg.to(maps.dtype)).view(b, 1, 1)
    cos, sin = torch.cos(a), torch.sin(a)
    dx, dy, dz = out[:, 0], out[:, 1], out[:, 2]
    return torch.stack([cos * dx - sin * dy, sin * dx + cos * dy, dz], 1)


def spherical_of_cameras(centers: torch.Tensor) -> torch.Tensor:
    """Camera centres (..., 3) of cameras looking at the origin -> (..., 3) azimuth degrees [0, 360),
    elevation degrees, distance (the inverse of ``CameraDistribution.pose``)."""
    dist = centers.norm(dim=-1).clamp_min(1e-12)
    az = torch.rad2deg(torch.atan2(centers[..., 1], centers[..., 0])) % 360.0
    el = torch.rad2deg(torch.asin((centers[..., 2] / dist).clamp(-1, 1)))
    return torch.stack([az, el, dist], -1)
