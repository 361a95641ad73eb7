"""Single-image reconstruction by GAN inversion (seed 002, MeshInversion): search a category model's
latent space, and fine-tune the camera, for the textured mesh whose render matches one photo."""

from .config import InversionConfig, preset  # noqa: F401
from .pipeline import InversionResult, LatentPrior, SinglePhoto, run_inversion  # noqa: F401
