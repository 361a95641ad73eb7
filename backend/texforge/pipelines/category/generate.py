"""New objects from a trained category GAN, and the GAN's evaluation.

:func:`generate_objects`: seeds (or a count from a first seed, or an interpolation between two seeds)
-> latents -> the EMA generator -> deformation + texture maps -> :class:`TexturedMesh` objects on the
ConvMesh template (its topology and UVs, the texture as base colour). Object seed s always stands for
the same latent (:func:`texforge.models.category_model.latent_of_seed`), and every object is generated on its own (batch of one,
BatchNorm in eval mode), so an object never depends on what else is generated with it: an
interpolation's end points are exactly the two seeds' objects.

:func:`evaluate_category_gan`: KID on EffNet-Lite0 features between renders of GAN samples and images
of held-out objects, next to references rendered the same way (the template with the mean texture; the
reconstruction network's outputs when given).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ...mesh.types import TexturedMesh
from ...runtime.errors import InputError
from ...runtime.progress import ProgressFn, ShouldStopFn, check_stop, never_stop, no_progress
from ...models.category_config import CategoryGanConfig
from ...models.category_model import latent_of_seed, load_generator
from .gan import TemplateRenderer


def interpolation_latents(z1: torch.Tensor, z2: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` latents from z1 to z2 along the great circle (slerp: Gaussian latents keep their typical
    norm in between, a straight line would pass through blander low-norm codes); the ends are z1 and
    z2 exactly."""
    if steps < 2:
        raise InputError(f"an interpolation needs at least 2 steps, got {steps}")
    cos = float(torch.dot(z1, z2) / (z1.norm() * z2.norm()).clamp_min(1e-12))
    omega = math.acos(max(-1.0, min(1.0, cos)))
    out = []
    for i in range(steps):
        t = i / (steps - 1)
        if i == 0:
            out.append(z1.clone())
        elif i == steps - 1:
            out.append(z2.clone())
        elif omega < 1e-6:
            out.append((1 - t) * z1 + t * z2)
        else:
            out.append((math.sin((1 - t) * omega) * z1 + math.sin(t * omega) * z2) / math.sin(omega))
    return torch.stack(out)


def latents_for(cfg: CategoryGanConfig, seeds=None, count: int | None = None, seed: int = 0,
                interpolate: tuple[int, int, int] | None = None) -> tuple[torch.Tensor, list[str]]:
    """(latents (N, latent), names) for explicit ``seeds``, ``count`` seeds from ``seed``, or
    ``interpolate`` = (seed 1, seed 2, steps)."""
    if interpolate is not None:
        s1, s2, steps = (int(v) for v in interpolate)
        z = interpolation_latents(latent_of_seed(s1, cfg.latent), latent_of_seed(s2, cfg.latent), steps)
        return z, [f"interp_{s1}_{s2}_{i:03d}" for i in range(steps)]
    if seeds is None:
        n = 1 if count is None else int(count)
        if n < 1:
            raise InputError(f"count must be at least 1, got {n}")
        seeds = range(int(seed), int(seed) + n)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise InputError("no seeds to generate")
    return torch.stack([latent_of_seed(s, cfg.latent) for s in seeds]), [f"seed_{s:06d}" for s in seeds]


@torch.no_grad()
def generate_maps(g, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(textures (N, 3, Ht, Wt), deformations (N, 3, Hd, Wd)), each latent on its own (batch of one)."""
    dev = next(g.parameters()).device
    outs = [g(z[None].to(dev)) for z in latents]
    return torch.cat([o[0] for o in outs]).cpu(), torch.cat([o[1] for o in outs]).cpu()


def objects_from_maps(textures: torch.Tensor, deformations: torch.Tensor) -> list[TexturedMesh]:
    """Maps -> TexturedMesh list on the ConvMesh template (Blender Z-up, the collection's canonical frame)."""
    from ...data.collection import CameraDistribution

    model = TemplateRenderer(CameraDistribution(), 8).model
    with torch.no_grad():
        verts = model.vertices_of(deformations.float())
    faces, uvs, face_uvs = (model.faces.cpu().numpy(), model.uvs.cpu().numpy(), model.face_uvs.cpu().numpy())
    return [TexturedMesh(v.numpy(), faces, uvs, face_uvs, t.permute(1, 2, 0).clamp(0, 1).numpy())
            for v, t in zip(verts, textures)]


def generate_objects(source, seeds=None, count: int | None = None, seed: int = 0,
                     interpolate: tuple[int, int, int] | None = None, device="cpu",
                     return_names: bool = False):
    """Objects from the category GAN at ``source`` (gan.safetensors or a folder holding it): explicit
    ``seeds``, or ``count`` objects from ``seed`` on, or ``interpolate`` = (seed 1, seed 2, steps).
    Returns a list of TexturedMesh (and their names with ``return_names``)."""
    g, cfg, _ = load_generator(source, device)
    z, names = latents_for(cfg, seeds, count, seed, interpolate)
    meshes = objects_from_maps(*generate_maps(g, z))
    return (meshes, names) if return_names else meshes


def write_objects(meshes: list[TexturedMesh], names: list[str], out, fmt: str = "glb",
                  overwrite: bool = False) -> Path:
    """Each object as OUT/<name>.glb (texture embedded) or OUT/<name>/<name>.obj + .mtl + texture PNG
    (a folder each: OBJ exports name their texture files alike); OUT appears only when all are written."""
    from ...mesh.io import write_glb, write_obj
    from ...results import result_folder

    if fmt not in ("glb", "obj"):
        raise InputError(f"format must be 'glb' or 'obj', got {fmt!r}")
    with result_folder(out, overwrite) as tmp:
        for mesh, name in zip(meshes, names):
            if fmt == "glb":
                write_glb(tmp / f"{name}.glb", mesh, name=name)
            else:
                (tmp / name).mkdir()
                write_obj(tmp / name / f"{name}.obj", mesh)
    return Path(out)


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------

def mean_texture(texture: torch.Tensor, visibility: torch.Tensor) -> torch.Tensor:
    """(3, Ht, Wt): the visibility-weighted mean of pseudo-GT textures; texels no object sees take the
    mean colour."""
    w = visibility.sum(0)
    colour = (texture * visibility).sum((0, 2, 3)) / visibility.sum().clamp_min(1e-6)
    mean = (texture * visibility).sum(0) / w.clamp_min(1e-6)
    return torch.where(w > 0, mean, colour.view(3, 1, 1))


def render_turntables(textures: torch.Tensor, deformations: torch.Tensor, renderer: TemplateRenderer,
                      azimuths: int = 12, seed: int = 0, should_stop: ShouldStopFn = never_stop) -> torch.Tensor:
    """Every object from ``azimuths`` evenly spaced azimuths (a random phase per object), elevation and
    distance drawn from the renderer's camera distribution -> RGB on black (N * azimuths, 3, H, W)."""
    from ...render.camera import cameras_from_arrays

    rng = np.random.default_rng(seed)
    dist = renderer.distribution
    out = []
    for tex, d in zip(textures, deformations):
        check_stop(should_stop)
        phase = rng.uniform(0, 360)
        poses = [dist.pose((phase + 360.0 * k / azimuths) % 360.0, rng.uniform(*dist.elevation_deg),
                           rng.uniform(*dist.distance)) for k in range(azimuths)]
        K = np.repeat(dist.intrinsics(renderer.width, renderer.height)[None], azimuths, 0)
        cams = cameras_from_arrays(K, np.stack([p[0] for p in poses]), np.stack([p[1] for p in poses]),
                                   renderer.width, renderer.height)
        with torch.no_grad():
            rgb, _ = renderer.render(tex[None].expand(azimuths, -1, -1, -1).float(),
                                     d[None].expand(azimuths, -1, -1, -1).float(), cams)
        out.append(rgb)
    return torch.cat(out)


def evaluate_category_gan(source, heldout_images: torch.Tensor, distribution=None, image_aspect=(1, 1),
                          mean_texture_map: torch.Tensor | None = None, reconstruction_maps=None,
                          reference_maps: dict | None = None, samples: int = 50, azimuths: int = 12, seed: int = 0, device="cpu",
                          progress: ProgressFn = no_progress, should_stop: ShouldStopFn = never_stop) -> dict:
    """KID (EffNet-Lite0 pooled features, 224 px) between ``heldout_images`` (M, 3, H, W) on black and
    renders of: ``samples`` GAN samples (seeds 1_000_000 + i, never used for sample sheets), the template
    sphere wearing ``mean_texture_map`` (3, Ht, Wt), and ``reconstruction_maps`` = (textures, deformations)
    of the held-out objects when given (the reconstruction network's outputs), and each
    ``reference_maps`` {name: (textures, deformations)} (e.g. the pseudo-GT maps the GAN trained on: the
    floor a GAN of its data can reach). Every generated set is
    rendered from ``azimuths`` evenly spaced azimuths per object at the collection's elevations and
    distances. Returns {"kid": {name: [mean, std]}, "images": {name: count}, "extractor": ...}."""
    from ...data.collection import CameraDistribution
    from ...metrics.features import embed_images, kid

    g, cfg, _ = load_generator(source, device)
    renderer = TemplateRenderer(distribution or CameraDistribution(), cfg.image_size, image_aspect)
    if tuple(heldout_images.shape[-2:]) != (renderer.height, renderer.width):
        raise InputError(f"held-out images are {tuple(heldout_images.shape[-2:])}; the renders are "
                         f"{(renderer.height, renderer.width)}")
    sets = {}
    z = torch.stack([latent_of_seed(1_000_000 + i, cfg.latent) for i in range(samples)])
    tex, d = generate_maps(g, z)
    sets["gan_samples"] = render_turntables(tex, d, renderer, azimuths, seed, should_stop)
    if mean_texture_map is not None:
        mt = mean_texture_map.float()
        zeros = torch.zeros(1, 3, *cfg.deformation_size)
        sets["template_mean_texture"] = render_turntables(mt[None], zeros, renderer, azimuths, seed + 1, should_stop)
    if reconstruction_maps is not None:
        sets["reconstructions"] = render_turntables(reconstruction_maps[0], reconstruction_maps[1], renderer,
                                                    azimuths, seed + 2, should_stop)
    for i, (name, (tex_r, def_r)) in enumerate((reference_maps or {}).items()):
        sets[name] = render_turntables(tex_r, def_r, renderer, azimuths, seed + 3 + i, should_stop)
    progress(0.3, f"embedding {len(heldout_images)} held-out images")
    real = embed_images(heldout_images, device=device)
    result = {"kid": {}, "images": {"heldout": int(len(heldout_images))},
              "extractor": "EffNet-Lite0 pooled 1280-d features at 224 px",
              "azimuths": azimuths, "samples": samples}
    for i, (name, imgs) in enumerate(sets.items()):
        check_stop(should_stop)
        progress(0.3 + 0.7 * i / len(sets), f"embedding {len(imgs)} renders of {name}")
        m, s = kid(embed_images(imgs, device=device), real, seed=seed, return_std=True)
        result["kid"][name] = [m, s]
        result["images"][name] = int(len(imgs))
    result["renders"] = {k: v[:min(len(v), 16 * azimuths):azimuths] for k, v in sets.items()}  # one view each
    return result


def contact_sheet(source, count: int = 16, seed: int = 0, image_size: int = 128, distribution=None,
                  azimuths=(30.0, 210.0), cols: int = 4) -> np.ndarray:
    """(H, W, 3) sheet of ``count`` generated objects (seeds ``seed``...), each rendered from ``azimuths``
    side by side at the distribution's mid elevation and distance, on black, one object per cell."""
    from ...data.collection import CameraDistribution

    g, cfg, _ = load_generator(source)
    z, _ = latents_for(cfg, count=count, seed=seed)
    tex, d = generate_maps(g, z)
    renderer = TemplateRenderer(distribution or CameraDistribution(), image_size)
    cells = []
    for t, dm in zip(tex, d):
        k = len(azimuths)
        with torch.no_grad():
            rgb, _ = renderer.render(t[None].expand(k, -1, -1, -1), dm[None].expand(k, -1, -1, -1),
                                     renderer.cameras_at(list(azimuths)))
        cells.append(torch.cat(list(rgb), dim=-1))  # (3, H, k * W)
    c, h, w = cells[0].shape
    rows = -(-len(cells) // cols)
    sheet = torch.full((3, rows * (h + 2) - 2, cols * (w + 2) - 2), 0.5)
    for i, cell in enumerate(cells):
        r, q = divmod(i, cols)
        sheet[:, r * (h + 2):r * (h + 2) + h, q * (w + 2):q * (w + 2) + w] = cell
    return sheet.permute(1, 2, 0).numpy()
