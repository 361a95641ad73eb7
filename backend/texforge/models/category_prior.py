"""A trained category model as single-image reconstruction uses it: the GAN's generator as a latent prior
(what inversion searches), and the reconstruction network as an encoder (seed 004's inverse-graphics
network: one image -> shape, texture and camera in one pass; the inversion's starting point and a fast
preview on its own)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.collection import CameraDistribution
from ..mesh.model import DeformationMapModel
from ..mesh.types import TexturedMesh
from .category_config import CategoryConfig
from .category_model import build_template, load_generator, load_reconstructor, predict_world, read_model


class CategoryPrior:
    """The latent prior of a category model (``texforge.pipelines.inversion.LatentPrior``): z -> the EMA
    generator's deformation and texture maps on the ConvMesh template, with the collection's camera
    distribution."""

    def __init__(self, generator, template: DeformationMapModel, cameras: CameraDistribution, latent_dim: int,
                 name: str = ""):
        self.generator, self.template, self.cameras = generator, template, cameras
        self.latent_dim, self.name = int(latent_dim), name

    def maps(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        texture, deformation = self.generator(z)
        return deformation, texture.clamp(0, 1)


def model_cameras(model) -> CameraDistribution:
    return CameraDistribution.from_json(model.header.get("collection", {}).get("camera_distribution", {}))


def load_category_prior(model_dir, device="cpu") -> CategoryPrior:
    """The prior of a model folder that has its GAN stage (InputError naming the file otherwise)."""
    model = read_model(model_dir)
    generator, gan_cfg, _ = load_generator(model.part("gan"), device)
    cfg = CategoryConfig(deformation_size=tuple(gan_cfg.deformation_size))
    return CategoryPrior(generator, build_template(cfg, device), model_cameras(model), gan_cfg.latent,
                         model.header.get("name", ""))


@dataclass
class EncoderPrediction:
    """The encoder's reconstruction of one image: maps in the world frame, the mesh, and the predicted
    camera (K, R, t for the network's S x S input; spherical = azimuth, elevation degrees and distance)."""

    deformation: torch.Tensor      # (1, 3, Hd, Wd)
    texture: torch.Tensor          # (1, 3, Ht, Wt)
    mesh: TexturedMesh
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    spherical: np.ndarray
    size: int


class CategoryEncoder:
    """The reconstruction network of a model folder as a single-image encoder. ``image_size``: the square
    input it was trained on; images are composited on black (as the collection's renders are)."""

    def __init__(self, model_dir, device="cpu"):
        model = read_model(model_dir)
        self.network, self.config, self.template = load_reconstructor(model, device)
        self.cameras = model_cameras(model)
        self.image_size = int(self.config.image_size)
        self.device = torch.device(device)

    @torch.no_grad()
    def predict(self, image: np.ndarray, mask: np.ndarray) -> EncoderPrediction:
        """image (S', S', 3) in [0, 1] with its mask (S', S'), square; resized to the network's size."""
        s = self.image_size
        x = torch.as_tensor(np.asarray(image, np.float32) * np.asarray(mask, np.float32)[..., None])
        x = x.permute(2, 0, 1)[None].to(self.device)
        if tuple(x.shape[-2:]) != (s, s):
            x = F.interpolate(x, size=(s, s), mode="area")
        out = predict_world(self.network, self.template, x)
        az, el, dist = (float(v) for v in self.network.decode_camera(out["camera"])[0])
        R, t = self.cameras.pose(az, el, dist)
        tpl = self.template
        mesh = TexturedMesh(vertices=out["vertices"][0].cpu().numpy().astype(np.float32), faces=tpl.faces.cpu().numpy(),
                            uvs=tpl.uvs.cpu().numpy().astype(np.float32), face_uvs=tpl.face_uvs.cpu().numpy(),
                            texture=out["texture"][0].permute(1, 2, 0).clamp(0, 1).cpu().numpy().astype(np.float32))
        return EncoderPrediction(out["deformation"], out["texture"], mesh, self.cameras.intrinsics(s, s), R, t,
                                 np.array([az, el, dist]), s)


def latent_for_maps(prior: CategoryPrior, deformation: torch.Tensor, texture: torch.Tensor, steps: int = 100,
                    candidates: int = 64, seed: int = 0) -> torch.Tensor:
    """The latent (latent_dim,) whose generated maps come closest to given maps (an encoder's
    prediction): the best of ``candidates`` random latents, then Adam on the squared deformation error
    plus the texture L1 and the latent prior. How the encoder starts the inversion: it predicts maps,
    the GAN needs a latent."""
    g = torch.Generator().manual_seed(seed)
    device = deformation.device
    with torch.no_grad():
        z = torch.randn(candidates, prior.latent_dim, generator=g).to(device)
        d, t = prior.maps(z)
        t_size = t.shape[-2:]
        target_t = F.interpolate(texture, size=t_size, mode="area") if texture.shape[-2:] != t_size else texture
        err = ((d - deformation) ** 2).flatten(1).mean(1) + (t - target_t).abs().flatten(1).mean(1)
    z = torch.nn.Parameter(z[int(err.argmin())][None].clone())
    opt = torch.optim.Adam([z], lr=0.05)
    for _ in range(steps):
        d, t = prior.maps(z)
        loss = ((d - deformation) ** 2).mean() + (t - target_t).abs().mean() + 1e-3 * (z ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return z.detach()[0]
