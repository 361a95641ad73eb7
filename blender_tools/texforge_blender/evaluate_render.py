"""Evaluation with Blender renders: the library behind scripts/evaluate.py, scripts/batch.py and the demo.

:func:`evaluate` = texforge.eval.evaluation's plan -> Blender renders of the result mesh through the
plan's camera sets and a turntable (:func:`render_mesh_file`, over render_views: scene reset, import,
render settings) -> scores and report folder. No metrics here. Only the main thread may call it; it
replaces the open file (meant for scripts and batch runs).
"""

from __future__ import annotations

import time

import numpy as np

from texforge.eval import evaluation
from . import render_views


def evaluate(result_dir, dataset_dir, out_dir, gt_mesh=None, engine: str = "CYCLES", samples: int | None = None,
             lighting: str | None = None, seed: int = 0, turntable_size: int = 48, azimuths: int = 12,
             elevations=(10.0, 35.0), overwrite: bool = False, log=evaluation.default_log,
             textures: dict | None = None) -> dict:
    """Evaluate one result folder against its dataset; returns the report dict, also written (with
    report.html and images/) to ``out_dir``, which appears only complete (temp folder + rename).
    ``textures`` {name: image path}: the result mesh is also rendered at the held-out cameras with each
    of these textures, and the report's ``texture_realism`` scores them beside the result's own.

    Raises InputError naming the missing or bad file, before anything is rendered or written."""
    from texforge.eval.texture_realism import check_textures
    from .dataset_render import cameras_for

    textures = check_textures(textures)

    plan = evaluation.plan_evaluation(result_dir, dataset_dir, out_dir, gt_mesh=gt_mesh, engine=engine,
                                      samples=samples, lighting=lighting, seed=seed, turntable_size=turntable_size,
                                      azimuths=azimuths, elevations=elevations, log=log, overwrite=overwrite)
    Rt, tt = cameras_for(evaluation.turntable_layout(azimuths, elevations), plan.center, plan.distance)
    sets = {**plan.camera_sets, "turntable": (plan.turntable_K(len(Rt)), Rt, tt, turntable_size, turntable_size)}
    st = plan.settings
    t0 = time.perf_counter()
    log(f"rendering {', '.join(f'{len(v[1])} {k}' for k, v in sets.items())} views with {st['engine']} "
        f"({st['samples']} samples, {st['lighting']} lighting)")
    renders = render_mesh_file(plan.mesh_path, sets, engine=st["engine"], samples=st["samples"],
                               lighting=st["lighting"], seed=seed, pixel_filter=st["pixel_filter"])
    extra = {name: render_mesh_file(plan.mesh_path, {"heldout": sets["heldout"]}, engine=st["engine"],
                                    samples=st["samples"], lighting=st["lighting"], seed=seed,
                                    pixel_filter=st["pixel_filter"], texture=path)["heldout"]
             for name, path in textures.items()}
    plan.timings["render"] = time.perf_counter() - t0
    return evaluation.write_evaluation(plan, renders, overwrite=overwrite, log=log, texture_renders=extra)


def render_mesh_file(mesh_path, camera_sets: dict, engine: str = "CYCLES", samples: int = 16,
                     lighting: str = "flat", seed: int = 0, pixel_filter: float | None = None,
                     progress=None, texture=None) -> dict:
    """Import ``mesh_path`` into an empty scene and render it through each camera set (with the image
    file ``texture`` in place of its own texture when given).

    camera_sets: {label: (K (N, 3, 3), R (N, 3, 3), t (N, 3), width, height)}.
    Returns {label: (N, H, W, 4) float32 RGBA in [0, 1], row 0 on top, straight alpha}.
    ``pixel_filter`` as in render_views.setup_render (match the dataset's). ``progress(label, i, n)``
    is called after each view when given.
    """
    scene = render_views.reset_scene()
    obj = render_views.import_mesh(mesh_path, name="TexForgeEvaluated")
    if texture is not None:
        _replace_texture(obj, texture)
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


def _replace_texture(obj, path) -> None:
    """Point every image node of the (freshly imported) mesh's materials at the image file ``path``."""
    import bpy

    from texforge.runtime.errors import InputError

    image = bpy.data.images.load(str(path), check_existing=False)
    nodes = [n for slot in obj.material_slots if slot.material is not None and slot.material.node_tree
             for n in slot.material.node_tree.nodes if n.type == "TEX_IMAGE"]
    if not nodes:
        raise InputError(f"{path}: the result mesh has no image texture to replace")
    for node in nodes:
        node.image = image


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
