"""Benchmark helper: three near-symmetric textured objects (fruit, barrel, bottle) as OBJ + MTL + PNG.

    python scripts/make_symmetric_assets.py --out DIR [--overwrite]

Each shape is a surface of revolution about the up axis (silhouettes cannot see a turn about it),
and only its texture breaks the symmetry: patches, planks and a painted mark, a label. They test
camera correction beyond silhouettes (docs/BENCHMARKS.md, "Camera correction on near-symmetric
objects"); render them with scripts/render_dataset.py.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

SEGMENTS, RINGS = 96, 64
TEX_H, TEX_W = 256, 512


def _revolve(profile) -> "TexturedMesh":  # noqa: F821
    """The UV-sphere topology with ring k at (radius, height) = profile(polar fraction in [0, 1])."""
    from texforge.mesh.template import uv_sphere

    sphere = uv_sphere(SEGMENTS, RINGS)
    v = sphere.vertices.astype(np.float64)
    frac = np.arccos(np.clip(v[:, 2], -1, 1)) / math.pi         # 0 at the top pole, 1 at the bottom
    phi = np.arctan2(v[:, 1], v[:, 0])
    rho, z = profile(frac)
    sphere.vertices = np.stack([rho * np.cos(phi), rho * np.sin(phi), z], -1).astype(np.float32)
    return sphere


def _caps(frac, cap, side):
    """Piecewise profile: a flat top cap over [0, cap], ``side(s)`` for s in [0, 1] down the side,
    a flat bottom cap over [1 - cap, 1]. side returns (radius, height) and is evaluated at its ends
    for the caps."""
    s = np.clip((frac - cap) / (1 - 2 * cap), 0, 1)
    rho, z = side(s)
    top_r, top_z = side(np.zeros(1))
    bot_r, bot_z = side(np.ones(1))
    rho = np.where(frac < cap, top_r * frac / cap, rho)
    rho = np.where(frac > 1 - cap, bot_r * (1 - frac) / cap, rho)
    z = np.where(frac < cap, top_z, np.where(frac > 1 - cap, bot_z, z))
    return rho, z


def _grid():
    """Texture coordinates: azimuth in [0, 2 pi) along the columns, polar fraction down the rows."""
    rows = (np.arange(TEX_H) + 0.5) / TEX_H
    cols = (np.arange(TEX_W) + 0.5) / TEX_W * 2 * math.pi
    return np.meshgrid(cols, rows)


def _blob(az, pol, az0, pol0, size):
    d_az = np.angle(np.exp(1j * (az - az0)))
    return (d_az / size[0]) ** 2 + ((pol - pol0) / size[1]) ** 2 < 1


def fruit(rng):
    mesh = _revolve(lambda f: (np.sin(math.pi * f) * (1 + 0.05 * np.cos(2 * math.pi * f)),
                               0.88 * np.cos(math.pi * f) - 0.08 * np.exp(-(f / 0.08) ** 2)))
    az, pol = _grid()
    tex = np.empty((TEX_H, TEX_W, 3))
    tex[:] = (0.95, 0.55, 0.12)
    shade = 0.85 + 0.15 * np.sin(3 * az + 2.0) * np.sin(math.pi * pol)   # ripening gradient, 3 lobes
    tex *= shade[..., None]
    for _ in range(40):                                               # dark speckles
        tex[_blob(az, pol, rng.uniform(0, 2 * math.pi), rng.uniform(0.15, 0.85), (0.06, 0.02))] = (0.45, 0.25, 0.05)
    tex[_blob(az, pol, 1.0, 0.45, (0.45, 0.14))] = (0.25, 0.6, 0.15)   # a green patch
    tex[_blob(az, pol, 3.6, 0.55, (0.3, 0.1))] = (0.95, 0.95, 0.9)     # a sticker ...
    tex[_blob(az, pol, 3.6, 0.55, (0.18, 0.05))] = (0.1, 0.25, 0.7)    # ... with a blue logo
    return mesh, tex


def barrel(rng):
    side = lambda s: (0.75 * (1 + 0.1 * np.sin(math.pi * s)), 0.9 - 1.8 * s)
    mesh = _revolve(lambda f: _caps(f, 0.12, side))
    az, pol = _grid()
    planks = (az / (2 * math.pi) * 18).astype(int)
    wood = 0.45 + 0.2 * rng.uniform(size=18)
    tex = np.stack([wood[planks] * 1.0, wood[planks] * 0.65, wood[planks] * 0.35], -1)
    tex[(np.abs(az / (2 * math.pi) * 18 - np.round(az / (2 * math.pi) * 18)) < 0.06)] *= 0.5   # plank gaps
    for p in (0.24, 0.4, 0.6, 0.76):                                      # iron hoops
        tex[np.abs(pol - p) < 0.025] = (0.2, 0.2, 0.22)
    tex[_blob(az, pol, 2.0, 0.5, (0.5, 0.07))] = (0.9, 0.85, 0.2)          # a painted mark
    tex[_blob(az, pol, 2.0, 0.5, (0.2, 0.05))] = (0.8, 0.1, 0.1)
    tex[pol < 0.12] = (0.55, 0.38, 0.2)                                   # lids
    tex[pol > 0.88] = (0.4, 0.28, 0.15)
    return mesh, tex


def bottle(rng):
    def side(s):
        z = 1.0 - 2.0 * s
        neck, body = 0.28, 0.55
        t = np.clip((0.75 - z) / 0.45, 0, 1)                             # shoulder from z 0.75 down to 0.3
        return neck + (body - neck) * (3 * t ** 2 - 2 * t ** 3), z
    mesh = _revolve(lambda f: _caps(f, 0.06, side))
    az, pol = _grid()
    tex = np.empty((TEX_H, TEX_W, 3))
    tex[:] = (0.15, 0.45, 0.25)
    label = (pol > 0.45) & (pol < 0.8) & (np.angle(np.exp(1j * (az - 1.5))) ** 2 < 1.8 ** 2)
    tex[label] = (0.95, 0.92, 0.8)
    tex[label & (np.abs(pol - 0.55) < 0.03)] = (0.7, 0.1, 0.1)            # a red band on the label
    for k in range(5):                                                    # text-like blocks
        blk = label & (np.abs(pol - 0.66) < 0.02) & (np.abs(np.angle(np.exp(1j * (az - 0.6 - 0.4 * k)))) < 0.12)
        tex[blk] = (0.1, 0.1, 0.1)
    tex[label & _blob(az, pol, 2.6, 0.7, (0.25, 0.05))] = (0.2, 0.3, 0.8)
    tex[pol < 0.08] = (0.8, 0.75, 0.2)                                    # cap
    return mesh, tex


ASSETS = {"fruit": fruit, "barrel": barrel, "bottle": bottle}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="make_symmetric_assets.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for NAME/NAME.obj (+ .mtl, .png)")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    from texforge.mesh.io import write_obj

    for k, (name, make) in enumerate(ASSETS.items()):
        path = Path(args.out) / name / f"{name}.obj"
        if path.exists() and not args.overwrite:
            print(f"make_symmetric_assets.py: error: {path} exists (pass --overwrite)", file=sys.stderr)
            return 2
        mesh, tex = make(np.random.default_rng(k))
        mesh.texture = np.clip(tex, 0, 1).astype(np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_obj(path, mesh)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
