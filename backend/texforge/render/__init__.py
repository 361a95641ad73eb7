"""Differentiable rendering: DIB-R rasterizer with kaolin's semantics, cameras, texture sampling.

kaolin-compatible functions: ``rasterize``, ``dibr_soft_mask``, ``dibr_rasterization``,
``texture_mapping``, ``prepare_vertices``, ``mask_iou``. The renderer entry point of every pipeline is
``texforge.render.renderer.render_mesh``.
"""

from .dibr import dibr_rasterization, mask_iou
from .prepare import prepare_vertices
from .rasterize import rasterize
from .renderer import RenderOutput, render_mesh
from .soft_mask import dibr_soft_mask
from .texture import texture_mapping

__all__ = [
           "RenderOutput",
           "dibr_rasterization",
           "dibr_soft_mask",
           "mask_iou",
           "prepare_vertices",
           "rasterize",
           "render_mesh",
           "texture_mapping",
]
