"""Procedural object families for category collections: vases and bottles with painted UV textures.

Each object is a surface of revolution about +Z from a random smooth profile, bent out of symmetry by
random smooth non-radial deformations (azimuthal lobes, an elliptic squash, a lean, a one-sided dent),
closed at both ends (a flat base and a closed mouth, so the surface is watertight), and painted with a
random structured texture (bands, vertical stripes, soft patches, a label, low-frequency noise).

UVs are a cylinder map: u = azimuth / 2 pi (a seam column duplicated at u = 1), v = arc length along
the profile from the base centre (v = 0) to the mouth centre (v = 1). Everything is numpy and depends
only on the ``numpy.random.Generator`` passed in, so ``(seed, index)`` gives the same object on every
machine and in every process (render_collection renders objects in parallel and resumes).
"""

from __future__ import annotations

import math

import numpy as np

from .types import TexturedMesh

GENERATORS = ("vase", "bottle")
SEGMENTS = 64          # around the axis
PROFILE_POINTS = 40    # along the profile, base rim to mouth rim
TEXTURE_SIZE = (128, 256)  # (H, W): u spans the circumference, about twice the profile's length


def object_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """The random stream of object ``index`` of collection ``seed`` (stream 0: shape and texture;
    others for e.g. cameras and lights), independent of every other object."""
    return np.random.default_rng([int(seed), int(index), int(stream)])


def generate(generator: str, rng: np.random.Generator) -> tuple[TexturedMesh, dict]:
    """One random object of family ``generator`` -> (TexturedMesh, parameters as plain JSON data).

    The mesh stands on z = 0 with its axis on +Z (callers normalise it); texture (H, W, 3) in [0, 1]."""
    if generator not in GENERATORS:
        raise ValueError(f"unknown procedural generator {generator!r}; known: {', '.join(GENERATORS)}")
    profile, params = _profile(generator, rng)
    deform = _deformation(rng)
    vertices, faces, uvs, face_uvs = _revolve(profile, deform)
    texture, tex_params = random_texture(rng)
    params.update({"generator": generator, "deformation": deform, "texture": tex_params})
    return TexturedMesh(vertices, faces, uvs, face_uvs, texture), params


# ---------------------------------------------------------------------------------------------
# Shape
# ---------------------------------------------------------------------------------------------

def _smooth_bumps(t: np.ndarray, rng: np.random.Generator, count: int, amplitude: float, width=(0.08, 0.25)):
    """A sum of ``count`` random Gaussian bumps in t; returns (values, parameter list)."""
    out, bumps = np.zeros_like(t), []
    for _ in range(count):
        c, w, a = rng.uniform(0.1, 0.95), rng.uniform(*width), rng.uniform(-amplitude, amplitude)
        out += a * np.exp(-((t - c) / w) ** 2)
        bumps.append([float(c), float(w), float(a)])
    return out, bumps


def _profile(generator: str, rng: np.random.Generator):
    """Radius r(t) and height z(t) for t in [0, 1] from the base rim to the mouth rim."""
    t = np.linspace(0.0, 1.0, PROFILE_POINTS)
    height = rng.uniform(1.2, 2.2)
    if generator == "vase":
        base, belly, neck, mouth = rng.uniform(0.25, 0.45), rng.uniform(0.45, 0.8), rng.uniform(0.12, 0.35), \
            rng.uniform(0.2, 0.5)
        belly_at, neck_at = rng.uniform(0.25, 0.5), rng.uniform(0.65, 0.85)
        knots_t = [0.0, belly_at, neck_at, 1.0]
        knots_r = [base, belly, neck, mouth]
    else:  # bottle: a straight-ish body, a shoulder, a long narrow neck
        body, neck = rng.uniform(0.3, 0.5), rng.uniform(0.08, 0.16)
        shoulder_at = rng.uniform(0.45, 0.7)
        knots_t = [0.0, 0.5 * shoulder_at, shoulder_at, shoulder_at + 0.15, 1.0]
        knots_r = [body * rng.uniform(0.85, 1.0), body, body * rng.uniform(0.9, 1.05), neck * 1.3, neck]
    radius = _smooth_interp(t, np.array(knots_t), np.array(knots_r))
    bumps, bump_params = _smooth_bumps(t, rng, int(rng.integers(1, 4)), 0.08)
    radius = np.clip(radius + bumps, 0.06, None)
    params = {"height": float(height), "knots_t": [float(k) for k in knots_t],
              "knots_r": [float(k) for k in knots_r], "bumps": bump_params}
    return (radius, height * t), params


def _smooth_interp(t: np.ndarray, knots_t: np.ndarray, knots_r: np.ndarray) -> np.ndarray:
    """Monotone-in-t cosine interpolation between knots: smooth (C1) and never overshooting."""
    idx = np.clip(np.searchsorted(knots_t, t, side="right") - 1, 0, len(knots_t) - 2)
    t0, t1 = knots_t[idx], knots_t[idx + 1]
    s = np.clip((t - t0) / np.maximum(t1 - t0, 1e-9), 0.0, 1.0)
    s = 0.5 - 0.5 * np.cos(math.pi * s)
    return knots_r[idx] * (1 - s) + knots_r[idx + 1] * s


def _deformation(rng: np.random.Generator) -> dict:
    return {"lobes": int(rng.integers(2, 6)), "lobe_amp": float(rng.uniform(0.0, 0.12)),
            "lobe_phase": float(rng.uniform(0, 2 * math.pi)),
            "squash": float(rng.uniform(0.0, 0.25)), "squash_angle": float(rng.uniform(0, math.pi)),
            "lean": [float(v) for v in rng.uniform(-0.15, 0.15, size=2)],
            "dent_amp": float(rng.uniform(0.0, 0.2)), "dent_phi": float(rng.uniform(0, 2 * math.pi)),
            "dent_t": float(rng.uniform(0.2, 0.8)), "twist": float(rng.uniform(-0.6, 0.6))}


def _radial_factor(t: np.ndarray, phi: np.ndarray, d: dict) -> np.ndarray:
    """Multiplier of the radius at profile position t and azimuth phi (the non-radial deformations)."""
    envelope = np.sin(math.pi * np.clip(t, 0, 1)) ** 2  # vanish at the base and the mouth
    twisted = phi + d["twist"] * t
    lobes = d["lobe_amp"] * envelope * np.cos(d["lobes"] * twisted + d["lobe_phase"])
    squash = d["squash"] * np.cos(2 * (phi - d["squash_angle"]))
    dphi = np.angle(np.exp(1j * (phi - d["dent_phi"])))
    dent = -d["dent_amp"] * np.exp(-(dphi / 0.6) ** 2 - ((t - d["dent_t"]) / 0.15) ** 2)
    return np.clip(1.0 + lobes + squash + dent, 0.3, None)


def _revolve(profile, d: dict):
    """Revolve the profile with the deformations; close the base and the mouth with centre vertices."""
    radius, z = profile
    n, m = len(radius), SEGMENTS
    t = np.linspace(0.0, 1.0, n)
    phi = np.arange(m) * (2 * math.pi / m)
    tt, pp = np.meshgrid(t, phi, indexing="ij")                       # (n, m)
    r = radius[:, None] * _radial_factor(tt, pp, d)
    lean = np.array(d["lean"])[None, None, :] * (tt ** 2)[..., None]
    ring = np.stack([r * np.cos(pp), r * np.sin(pp)], axis=-1) + lean
    ring_xyz = np.concatenate([ring, np.broadcast_to(z[:, None, None], (n, m, 1))], axis=-1).reshape(-1, 3)
    base_c = np.array([0.0, 0.0, z[0]])
    mouth_c = np.array([*(np.array(d["lean"])), z[-1]])
    vertices = np.concatenate([ring_xyz, base_c[None], mouth_c[None]])
    base_i, mouth_i = n * m, n * m + 1

    # v by arc length along the mean profile, including the two caps' radii
    seg = np.hypot(np.diff(radius), np.diff(z))
    arc = np.concatenate([[radius[0]], radius[0] + np.cumsum(seg)])
    total = arc[-1] + radius[-1]
    v_ring = arc / total
    u = np.arange(m + 1) / m
    uv_ring = np.stack(np.meshgrid(u, v_ring, indexing="xy"), axis=-1).reshape(-1, 2)  # (n*(m+1), 2)
    uv_base = np.stack([(np.arange(m) + 0.5) / m, np.zeros(m)], axis=1)
    uv_mouth = np.stack([(np.arange(m) + 0.5) / m, np.ones(m)], axis=1)
    uvs = np.concatenate([uv_ring, uv_base, uv_mouth])
    uv_base0, uv_mouth0 = n * (m + 1), n * (m + 1) + m

    def vid(i, j):
        return i * m + j % m

    def uid(i, j):
        return i * (m + 1) + j

    faces, face_uvs = [], []
    for i in range(n - 1):  # rings go up in z; counter-clockwise seen from outside
        for j in range(m):
            a, b, c, e = vid(i, j), vid(i, j + 1), vid(i + 1, j + 1), vid(i + 1, j)
            ua, ub, uc, ue = uid(i, j), uid(i, j + 1), uid(i + 1, j + 1), uid(i + 1, j)
            faces += [(a, b, c), (a, c, e)]
            face_uvs += [(ua, ub, uc), (ua, uc, ue)]
    for j in range(m):
        faces.append((base_i, vid(0, j + 1), vid(0, j)))                 # seen from below
        face_uvs.append((uv_base0 + j, uid(0, j + 1), uid(0, j)))
        faces.append((vid(n - 1, j), vid(n - 1, j + 1), mouth_i))        # seen from above
        face_uvs.append((uid(n - 1, j), uid(n - 1, j + 1), uv_mouth0 + j))
    return vertices, np.array(faces), uvs, np.array(face_uvs)


# ---------------------------------------------------------------------------------------------
# Texture
# ---------------------------------------------------------------------------------------------

def _random_colour(rng: np.random.Generator) -> np.ndarray:
    h, s, v = rng.uniform(0, 1), rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.95)
    k = (np.array([5.0, 3.0, 1.0]) + h * 6) % 6
    return v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)


def _smooth_noise(rng: np.random.Generator, shape, cells=(4, 8)) -> np.ndarray:
    """Bilinear upsampling of a coarse random grid that wraps in u: smooth noise in [-1, 1]."""
    h, w = shape
    ch, cw = cells
    grid = rng.uniform(-1, 1, size=(ch + 1, cw))
    y = np.linspace(0, ch, h)
    x = np.arange(w) * cw / w
    y0 = np.clip(np.floor(y).astype(int), 0, ch - 1)
    x0 = np.floor(x).astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    g = lambda yi, xi: grid[yi][:, xi % cw]  # noqa: E731
    return ((1 - fy) * ((1 - fx) * g(y0, x0) + fx * g(y0, x0 + 1))
            + fy * ((1 - fx) * g(y0 + 1, x0) + fx * g(y0 + 1, x0 + 1)))


def random_texture(rng: np.random.Generator, size=TEXTURE_SIZE) -> tuple[np.ndarray, dict]:
    """A random structured texture (H, W, 3) float32 in [0, 1], row 0 on top (v = 1), and what it holds."""
    h, w = size
    v = 1.0 - (np.arange(h) + 0.5) / h
    u = (np.arange(w) + 0.5) / w
    uu, vv = np.meshgrid(u, v)
    img = np.broadcast_to(_random_colour(rng), (h, w, 3)).copy()
    layers = []
    for _ in range(int(rng.integers(1, 4))):  # horizontal bands around the object
        c, width, col = rng.uniform(0.05, 0.95), rng.uniform(0.02, 0.12), _random_colour(rng)
        mask = np.clip((width - np.abs(vv - c)) * h * 0.7, 0, 1)[..., None]
        img = img * (1 - mask) + col * mask
        layers.append("band")
    if rng.uniform() < 0.5:  # vertical stripes, evenly spaced around
        count, duty, col = int(rng.integers(4, 16)), rng.uniform(0.2, 0.5), _random_colour(rng)
        lo, hi = sorted(rng.uniform(0, 1, size=2))
        stripe = ((uu * count) % 1.0 < duty) & (vv > lo) & (vv < hi)
        img[stripe] = col
        layers.append("stripes")
    for _ in range(int(rng.integers(0, 6))):  # soft patches (wrapping in u)
        cu, cv, rad, col = rng.uniform(0, 1), rng.uniform(0.1, 0.9), rng.uniform(0.04, 0.12), _random_colour(rng)
        du = np.minimum(np.abs(uu - cu), 1 - np.abs(uu - cu)) * 2.0
        wgt = np.clip(1.5 - np.hypot(du, vv - cv) / rad, 0, 1)[..., None]
        img = img * (1 - wgt) + col * wgt
        layers.append("patch")
    if rng.uniform() < 0.6:  # a label: a rectangle on one side with a border and text-like lines
        cu, cv = rng.uniform(0, 1), rng.uniform(0.3, 0.7)
        hw, hh = rng.uniform(0.08, 0.2), rng.uniform(0.08, 0.18)
        paper, ink = _random_colour(rng) * 0.3 + 0.7, _random_colour(rng) * 0.5
        du = np.minimum(np.abs(uu - cu), 1 - np.abs(uu - cu))
        inside = (du < hw) & (np.abs(vv - cv) < hh)
        border = inside & ((du > hw * 0.9) | (np.abs(vv - cv) > hh * 0.85))
        lines = inside & (np.abs(vv - cv) < hh * 0.6) & (((vv - cv) * h / 4).astype(int) % 2 == 0) & (du < hw * 0.7)
        img[inside] = paper
        img[border | lines] = ink
        layers.append("label")
    amount = rng.uniform(0.0, 0.15)
    img = img * (1 + amount * _smooth_noise(rng, (h, w))[..., None])
    layers.append("noise")
    return np.clip(img, 0, 1).astype(np.float32), {"layers": layers, "noise": float(amount)}


def normalise(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Centre the bounding box at the origin and scale the bounding sphere (about it) to radius 1.
    Returns (normalised vertices, the centre removed, the scale applied)."""
    v = np.asarray(vertices, dtype=np.float64)
    centre = (v.min(0) + v.max(0)) / 2
    radius = float(np.linalg.norm(v - centre, axis=1).max())
    if not radius > 0:
        raise ValueError("the mesh has zero extent")
    return (v - centre) / radius, centre, 1.0 / radius
