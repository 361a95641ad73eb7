"""Textures from photos: UV rasterisation (raster), photo-to-UV projection with visibility
(projection), push-pull inpainting (inpaint), per-view exposure gains (exposure). Used by the
multi-view fit for its final texture and by learning pipelines for per-view pseudo-ground-truth
textures."""

from .inpaint import push_pull_fill
from .projection import (extract_texture, extract_texture_chunked, mirror_points, project_colors,
                         project_colors_chunked, project_each_view)
from .raster import uv_rasterize

__all__ = ["extract_texture", "extract_texture_chunked", "mirror_points", "project_colors", "project_colors_chunked",
           "project_each_view",
           "push_pull_fill", "uv_rasterize"]
