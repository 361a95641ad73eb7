"""UV-space texture GAN (seed 000, stage 2): trained on a result's per-view pseudo-GT textures, it gives
a best texture (latent search against the views) and variations.

``run_texture_gan(pseudo_gt, config, progress, should_stop, device) -> TextureGANResult``;
``TextureGANConfig.preset("tiny" | "small" | "full")``; ``result_io.write_texture_gan_result``.
"""

from .config import TextureGANConfig
from .pipeline import TextureGANResult, run_texture_gan

__all__ = ["TextureGANConfig", "TextureGANResult", "run_texture_gan"]
