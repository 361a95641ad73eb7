"""The category-model folder (MODEL/), written stage by stage, each part atomically:

    MODEL/model.json                {"format": "texforge-category-model", "version": 1, "name", "collection":
                                     <collection header>, "template": "convmesh_sphere", "symmetric": bool,
                                     "deformation_size": [32, 32], "texture_size": [Ht, Wt], "stages": {...}}
    MODEL/reconstructor.safetensors the reconstruction network (a texforge.training checkpoint: module
                                     "network" with its EMA weights, the CategoryConfig as its config)
    MODEL/maps.safetensors          pseudo-ground-truth maps of every training object: deformation
                                     (N, 3, Hd, Wd) float32 (DeformationMapModel.displacement_map meaning:
                                     world x, y, z displacements of the unit sphere, scale 1, no frames),
                                     texture (N, 3, Ht, Wt) float32 in [0, 1] (row 0 = v = 1), visibility
                                     (N, 1, Ht, Wt) float32 in [0, 1]; metadata "object_ids", "texture_size",
                                     "symmetric" (JSON)
    MODEL/gan.safetensors           the category GAN (written by texforge.pipelines.category.gan: generator,
                                     its EMA, discriminators; "extra": {"kind": GAN_KIND})

A stage's file is written first and model.json (which lists the stage under "stages") after it, so a
model.json never names a part that is not complete. Reading checks the format, version and layout and
raises InputError naming the file for anything that does not fit.

This module is where every pipeline that uses a category model (training it, generating objects,
reconstructing one photo, starting a multi-view fit) finds its parts and rebuilds its networks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..atomic import write_bytes, write_text
from ..data.collection import CameraDistribution, Collection
from ..data.format_header import read_format_header
from ..mesh.model import DeformationMapModel
from ..mesh.template import convmesh_sphere
from ..nets.category_gan import CategoryGenerator
from ..nets.category_recon import CategoryReconstructor, turn_maps_about_z
from ..runtime.errors import InputError
from ..training import EMA, CheckpointError, load_checkpoint, save_checkpoint
from ..training.checkpoint import checkpoint_header
from .category_config import CategoryConfig, CategoryGanConfig

MODEL_FORMAT, MODEL_VERSION = "texforge-category-model", 1
TEMPLATE = "convmesh_sphere"
MODEL_JSON, RECONSTRUCTOR_FILE, MAPS_FILE, GAN_FILE = ("model.json", "reconstructor.safetensors",
                                                       "maps.safetensors", "gan.safetensors")
GAN_KIND = "texforge-category-gan"
STAGE_FILES = {"reconstructor": RECONSTRUCTOR_FILE, "maps": MAPS_FILE, "gan": GAN_FILE}
DEFORMATION_SIZE = (32, 32)


@dataclass
class CategoryModel:
    """A model folder's header (model.json) and where its parts are."""

    root: Path
    header: dict

    @property
    def texture_size(self) -> tuple[int, int]:
        return tuple(self.header["texture_size"])

    @property
    def stages(self) -> dict:
        return self.header.get("stages", {})

    def part(self, stage: str) -> Path:
        """The file of a finished stage (InputError when the model has not got it)."""
        if stage not in self.stages:
            raise InputError(f"{self.root / MODEL_JSON}: the model has no {stage!r} stage "
                             f"(it holds {sorted(self.stages) or 'none'}); train it first")
        path = self.root / STAGE_FILES[stage]
        if not path.is_file():
            raise InputError(f"{path} is missing although {MODEL_JSON} lists the {stage!r} stage: "
                             "the model folder is incomplete")
        return path


def new_header(name: str, collection_header: dict, texture_size, symmetric: bool = False) -> dict:
    return {"format": MODEL_FORMAT, "version": MODEL_VERSION, "name": str(name), "collection": collection_header,
            "template": TEMPLATE, "symmetric": bool(symmetric), "deformation_size": list(DEFORMATION_SIZE),
            "texture_size": [int(v) for v in texture_size], "stages": {}}


def write_model_json(root, header: dict) -> Path:
    return write_text(Path(root) / MODEL_JSON, json.dumps(header, indent=2))


def add_stage(root, header: dict, stage: str, info: dict) -> dict:
    """Record a finished stage (its file already written) in model.json; returns the new header."""
    if stage not in STAGE_FILES:
        raise ValueError(f"unknown stage {stage!r} ({sorted(STAGE_FILES)})")
    header = {**header, "stages": {**header.get("stages", {}), stage: {"file": STAGE_FILES[stage], **info}}}
    write_model_json(root, header)
    return header


def read_model(path) -> CategoryModel:
    """Read MODEL/model.json; InputError naming the file for a missing folder, a corrupt file or a model
    of another format, version or layout (template, deformation map size)."""
    root = Path(path)
    file, header = read_format_header(root, MODEL_JSON, MODEL_FORMAT, MODEL_VERSION, "category-model",
                                      "train one with scripts/train_category.py", title="category model")
    if header.get("template") != TEMPLATE:
        raise InputError(f"{file}: a model on the template {header.get('template')!r}; this TexForge's category "
                         f"models use {TEMPLATE!r}")
    try:
        dsize = [int(v) for v in header["deformation_size"]]
        tsize = [int(v) for v in header["texture_size"]]
        stages = header.get("stages", {})
        if len(dsize) != 2 or len(tsize) != 2 or min(tsize) < 1 or not isinstance(stages, dict):
            raise ValueError("sizes must be [H, W] and stages a dict")
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{file}: malformed category-model header ({err!r})") from err
    if tuple(dsize) != DEFORMATION_SIZE:
        raise InputError(f"{file}: deformation maps of {dsize}; this TexForge's template reads {list(DEFORMATION_SIZE)}")
    return CategoryModel(root, header)


# ------------------------------------------------------------------------------------------------
# the pseudo-ground-truth maps
# ------------------------------------------------------------------------------------------------

def save_maps(path, deformation, texture, visibility, object_ids, symmetric: bool = False) -> Path:
    """Write a maps file (``path``: a model folder -> MODEL/maps.safetensors, or a file name); arrays or
    tensors as in the file (see the module docstring). ValueError when the shapes do not fit together."""
    from safetensors.torch import save

    deformation, texture, visibility = (torch.as_tensor(np.asarray(x.detach().cpu() if torch.is_tensor(x) else x,
                                                                    dtype=np.float32))
                                        for x in (deformation, texture, visibility))
    n = deformation.shape[0]
    th, tw = texture.shape[-2:]
    if (deformation.dim() != 4 or deformation.shape[1] != 3 or tuple(texture.shape) != (n, 3, th, tw)
            or tuple(visibility.shape) != (n, 1, th, tw) or len(object_ids) != n):
        raise ValueError(f"maps: deformation {tuple(deformation.shape)}, texture {tuple(texture.shape)}, "
                         f"visibility {tuple(visibility.shape)} and {len(object_ids)} ids do not fit together")
    tensors = {k: v.contiguous() for k, v in
               (("deformation", deformation), ("texture", texture.clamp(0, 1)), ("visibility", visibility.clamp(0, 1)))}
    meta = {"object_ids": json.dumps([str(i) for i in object_ids]), "texture_size": json.dumps([int(th), int(tw)]),
            "symmetric": json.dumps(bool(symmetric))}
    path = Path(path)
    return write_bytes(path / MAPS_FILE if path.is_dir() else path, save(tensors, metadata=meta))


def load_maps(path) -> dict:
    """Read a maps file (or a model folder's): {"deformation", "texture", "visibility" (float32 tensors),
    "object_ids", "texture_size", "symmetric", "path"}; InputError naming the file when it is missing,
    corrupt, inconsistent or not finite."""
    from safetensors import safe_open

    path = Path(path)
    if path.is_dir():
        path = path / MAPS_FILE
    if not path.is_file():
        raise InputError(f"{path}: no maps file (train the category model's reconstructor stage first; it writes "
                         f"{MAPS_FILE})")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k).float() for k in f.keys()}
        out = {**tensors, "object_ids": [str(i) for i in json.loads(meta["object_ids"])],
               "texture_size": tuple(json.loads(meta["texture_size"])), "symmetric": bool(json.loads(meta["symmetric"]))}
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for corrupt files
        raise InputError(f"{path}: corrupt or not a category maps file ({type(exc).__name__}: {exc})") from None
    missing = {"deformation", "texture", "visibility"} - set(tensors)
    if missing:
        raise InputError(f"{path}: the maps file lacks {sorted(missing)}")
    d, t, v = out["deformation"], out["texture"], out["visibility"]
    n = d.shape[0]
    if (d.dim() != 4 or d.shape[1] != 3 or t.dim() != 4 or t.shape[:2] != (n, 3)
            or tuple(t.shape[-2:]) != out["texture_size"] or tuple(v.shape) != (n, 1, *t.shape[-2:])
            or len(out["object_ids"]) != n):
        raise InputError(f"{path}: inconsistent maps: deformation {tuple(d.shape)}, texture {tuple(t.shape)}, "
                         f"visibility {tuple(v.shape)}, {len(out['object_ids'])} ids")
    if not all(torch.isfinite(x).all() for x in (d, t, v)):
        raise InputError(f"{path}: the maps hold NaN or infinite values")
    out["texture"], out["visibility"], out["path"] = t.clamp(0, 1), v.clamp(0, 1), str(path)
    return out


# ------------------------------------------------------------------------------------------------
# the reconstruction network
# ------------------------------------------------------------------------------------------------

def save_reconstructor(root, network, config, step: int, extra: dict | None = None) -> Path:
    return save_checkpoint(Path(root) / RECONSTRUCTOR_FILE, {"network": network}, step=step,
                           config=config.to_dict(), extra=extra or {})


def load_reconstructor(model: CategoryModel, device="cpu"):
    """The trained network of a model folder -> (network in eval mode, CategoryConfig, template)."""

    path = model.part("reconstructor")
    cfg = CategoryConfig.from_dict(checkpoint_header(path).get("config") or {})
    cams = CameraDistribution.from_json(model.header.get("collection", {}).get("camera_distribution", {}))
    net = build_network(cfg, Collection(root=model.root, train=[], heldout=[], views=0, size=(0, 0), cameras=cams))
    load_checkpoint(path, {"network": net}, restore_rng=False)
    return net.to(device).eval(), cfg, build_template(cfg, device)


def build_template(config: CategoryConfig, device="cpu") -> DeformationMapModel:
    """The ConvMesh sphere as a :class:`DeformationMapModel` with identity placement and no frames: its
    ``vertices_of(maps)`` is the meaning of the category model's deformation maps."""
    m = convmesh_sphere()
    as_t = lambda a, dt: torch.as_tensor(a, dtype=dt)  # noqa: E731
    model = DeformationMapModel(as_t(m.vertices, torch.float32), as_t(m.faces, torch.long), as_t(m.uvs, torch.float32),
                                as_t(m.face_uvs, torch.long), map_size=tuple(config.deformation_size),
                                anchor=torch.zeros(3))
    return model.requires_grad_(False).to(device)


def build_network(config: CategoryConfig, collection: Collection) -> CategoryReconstructor:
    cams = collection.cameras
    return CategoryReconstructor(image_size=config.image_size, channels=config.channels, latent=config.latent,
                                 deformation_size=tuple(config.deformation_size),
                                 texture_size=tuple(config.texture_size), elevation_range=tuple(cams.elevation_deg),
                                 distance_range=tuple(cams.distance))


def predict_world(network: CategoryReconstructor, template: DeformationMapModel, images: torch.Tensor,
                  azimuth_deg: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The network's output in the world frame: ``deformation`` (B, 3, Hd, Wd), ``texture`` (B, 3, Ht, Wt),
    ``vertices`` (B, V, 3), ``camera`` (B, 4) raw, ``azimuth`` (B,) used. ``azimuth_deg``: the input
    views' known azimuths (None: the network's own prediction, for a photo without a camera)."""
    out = network(images)
    az = network.decode_camera(out["camera"])[:, 0].detach() if azimuth_deg is None else azimuth_deg
    deformation = turn_maps_about_z(out["deformation"], az, vector=True)
    texture = turn_maps_about_z(out["texture"], az, vector=False)
    return {"deformation": deformation, "texture": texture, "vertices": template.vertices_of(deformation),
            "camera": out["camera"], "azimuth": az}


# ------------------------------------------------------------------------------------------------
# the category GAN
# ------------------------------------------------------------------------------------------------

def build_generator(cfg: CategoryGanConfig) -> CategoryGenerator:
    return CategoryGenerator(cfg.texture_size, cfg.deformation_size, latent=cfg.latent, channels=cfg.channels,
                             texture_upsamplings=cfg.texture_upsamplings, min_channels=cfg.min_channels,
                             attention=cfg.attention, symmetry=cfg.symmetry, qk_channels=cfg.qk_channels,
                             heads=cfg.heads, deformation_scale=cfg.deformation_scale)


def latent_of_seed(seed: int, latent: int) -> torch.Tensor:
    """The latent (latent,) that object seed ``seed`` stands for (generation and interpolation agree)."""
    return torch.randn(latent, generator=torch.Generator().manual_seed(int(seed)))


def read_gan_header(path) -> tuple[Path, dict]:
    """(file, header) of a category GAN checkpoint (a file or a folder holding gan.safetensors);
    CheckpointError (an InputError) when it is missing, corrupt or another kind of checkpoint."""
    path = Path(path)
    if path.is_dir():
        path = path / GAN_FILE
    header = checkpoint_header(path)
    if (header.get("extra") or {}).get("kind") != GAN_KIND or not header.get("config"):
        raise CheckpointError(f"{path} is a texforge checkpoint but not a category GAN "
                              f"(kind {(header.get('extra') or {}).get('kind')!r}); pass the category model's {GAN_FILE}")
    return path, header


def load_generator(source, device="cpu"):
    """(generator with the EMA weights in eval mode, config, checkpoint file) from a category GAN
    checkpoint or a folder holding gan.safetensors. CheckpointError (an InputError) naming the file when
    it is missing, corrupt, not a category GAN, or does not fit the configuration it claims."""
    path, header = read_gan_header(source)
    try:
        cfg = CategoryGanConfig.from_dict(header["config"])
        g = build_generator(cfg)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its category GAN configuration is unusable ({exc})") from None
    ema = EMA(g, cfg.ema_decay)
    load_checkpoint(path, {"generator": g}, ema=ema, restore_rng=False)
    ema.copy_to()
    return g.to(device).eval().requires_grad_(False), cfg, path
