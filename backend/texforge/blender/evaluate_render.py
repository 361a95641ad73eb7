"""Blender side of scripts/evaluate.py: render a result mesh file through sets of cameras.

Thin glue over addon.render_views (scene reset, import, render settings, renders); no metrics here.
Only the main thread may call it; it replaces the open file (meant for scripts and batch runs).
"""

from __future__ import annotations

import numpy as np

from . import render_views


def render_mesh_file(mesh_path, camera_sets: dict, engine: str = "CYCLES", samples: int = 16,
                     lighting: str = "flat", seed: int = 0, pixel_filter: float | None = None,
                     progress=None) -> dict:
    """Import ``mesh_path`` into an empty scene and render it through each camera set.

    camera_sets: {label: (K (N, 3, 3), R (N, 3, 3), t (N, 3), width, height)}.
    Returns {label: (N, H, W, 4) float32 RGBA in [0, 1], row 0 on top, straight alpha}.
    ``pixel_filter`` as in render_views.setup_render (match the dataset's). ``progress(label, i, n)``
    is called after each view when given.
    """
    scene = render_views.reset_scene()
    render_views.import_mesh(mesh_path, name="TexForgeEvaluated")
    out = {}
    for label, (K, R, t, w, h) in camera_sets.items():
        if len(R) == 0:
            out[label] = np.zeros((0, int(h), int(w), 4), np.float32)
            continue
        render_views.setup_render(scene, engine=engine, samples=samples, lighting=lighting, width=w, height=h,
                                  pixel_filter=pixel_filter, seed=seed)
        if engine == "BLENDER_WORKBENCH":
            _workbench_shading(scene, lighting)
        cb = (lambda i, n, _l=label: progress(_l, i, n)) if progress else None
        out[label] = render_views.render_views(scene, K, R, t, w, h, progress=cb)
    return out


def _workbench_shading(scene, lighting: str) -> None:
    """Workbench ignores node materials: show the image texture itself, unlit for 'flat' lighting
    (what Cycles' emission copies show), with studio lighting otherwise."""
    shading = scene.display.shading
    shading.color_type = "TEXTURE"
    shading.light = "FLAT" if lighting == "flat" else "STUDIO"
    shading.show_shadows = False
    shading.show_cavity = False
    shading.show_object_outline = False
    shading.show_specular_highlight = lighting != "flat"
