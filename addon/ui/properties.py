"""Scene settings of TexForge: ``bpy.types.Scene.texforge`` (a TexForgeSceneProperties).

Add new settings as annotations in the class body, grouped by workflow under a comment; keep
defaults that work on a CPU (the ``small`` preset). Settings that belong to the machine rather than the
scene (device, cache folder) live in the add-on preferences; ``device`` here only overrides them.
"""

from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)
from texforge.data.working_size import DEFAULT_MAX_SIZE

PRESET_ITEMS = (
    ("small", "Small", "Few iterations at low resolution: a quick result on a CPU"),
    ("full", "Full", "Paper-scale settings: slow, meant for a CUDA GPU"),
)

DEVICE_OVERRIDE_ITEMS = (
    ("PREFERENCES", "From Preferences", "Use the device chosen in the add-on preferences"),
    ("AUTO", "Auto", "CUDA when PyTorch sees a GPU, else CPU"),
    ("CUDA", "CUDA", "Run on the first CUDA GPU"),
    ("CPU", "CPU", "Run on the CPU"),
)


# keys of texforge.pipelines.multiview.config.CAMERA_TRUST (a test keeps them equal)
CAMERA_TRUST_ITEMS = (
    ("calibrated", "Calibrated", "Cameras from COLMAP or a photogrammetry tool: they move only within a tight prior"),
    ("approximate", "Approximate", "Cameras that are about right: the fit corrects them"),
    ("rough", "Rough", "Cameras placed by hand or a turntable rig: a looser prior lets the fit move them further"),
)

MASK_SOURCE_ITEMS = (
    ("AUTO", "Auto", "The photo's alpha channel when it has transparent pixels, else a background-colour model"),
    ("ALPHA", "Alpha Channel", "Use the photo's alpha channel as the object mask (cut-out photos, renders)"),
    ("BACKGROUND", "Background Colour", "Estimate a plain backdrop colour from the photo's border; pixels that "
                                        "differ from it are the object"),
    ("SEGMENT", "Automatic Segmentation", "Any background: colour models seeded by where the cameras look, "
                                          "made consistent across the views (photos without alpha or masks)"),
)


# the modes of texforge.pipelines.inversion.single_image.MODES
SINGLE_MODE_ITEMS = (
    ("inversion", "Inversion", "Search the category GAN's latent space and the camera to match the photo "
                               "(the unseen side comes from the model)"),
    ("encoder", "Encoder Preview", "The model's reconstruction network alone: one pass, a preview in seconds"),
)


class TexForgeViewResult(bpy.types.PropertyGroup):
    """One input view of the last multi-view reconstruction (``name`` = the source camera's name)."""

    camera: PointerProperty(name="Camera", type=bpy.types.Object, description="The input camera")
    corrected: PointerProperty(name="Corrected", type=bpy.types.Object,
                               description="The new camera at the corrected pose (None when pruned)")
    iou: FloatProperty(name="IoU", default=-1.0, description="Silhouette IoU of the result in this view (-1: n/a)")
    psnr: FloatProperty(name="PSNR", default=-1.0, description="PSNR (dB) of the result in this view (-1: n/a)")
    pruned: BoolProperty(name="Pruned", default=False, description="The view was left out of the final fit")
    reason: StringProperty(name="Reason", default="", description="Why the view was pruned")


class TexForgeSceneProperties(bpy.types.PropertyGroup):
    """Per-scene TexForge settings (saved in the .blend)."""

    # --- general ---
    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default="small",
                         description="Size of the optimisation: quick on a CPU, or paper scale on a GPU")
    device: EnumProperty(name="Device", items=DEVICE_OVERRIDE_ITEMS, default="PREFERENCES",
                         description="Where the models run (overrides the add-on preferences for this scene)")
    output_dir: StringProperty(name="Output Folder", subtype="DIR_PATH", default="//texforge/",
                               description="Each run writes a new sub-folder here (mesh.glb, texture.png, "
                                           "result.json); existing files are never overwritten. Relative to "
                                           "the .blend: while it is unsaved, nothing is written")

    # --- multi-view workflow (addon/scene_inputs.py, addon/ops_reconstruct.py) ---
    mask_source: EnumProperty(name="Mask Source", items=MASK_SOURCE_ITEMS, default="AUTO",
                              description="Where the object's outline in each photo comes from")
    camera_trust: EnumProperty(name="Camera Trust", items=CAMERA_TRUST_ITEMS, default="approximate",
                               description="How far the reconstruction may move the cameras")
    max_image_size: IntProperty(name="Working Size", default=DEFAULT_MAX_SIZE, min=32, max=8192, subtype="PIXEL",
                                description="Photos are scaled down so that their longest side is at most "
                                            "this many pixels before reconstruction")
    views: CollectionProperty(type=TexForgeViewResult, name="Views",
                              description="Per-view figures of the last reconstruction")
    views_index: IntProperty(name="Active View", default=0)
    result_object: PointerProperty(name="Result", type=bpy.types.Object,
                                   description="Mesh object made by the last reconstruction")
    result_collection: PointerProperty(name="Result Collection", type=bpy.types.Collection)
    result_summary: StringProperty(name="Summary", default="")

    # --- single-image workflow (addon/operators/reconstruct_single.py, addon/operators/swap.py) ---
    single_image_path: StringProperty(name="Image", subtype="FILE_PATH", default="",
                                      description="The photo; empty: the active camera's background image, "
                                                  "with that camera (object at the world origin)")
    single_model_dir: StringProperty(name="Category Model", subtype="DIR_PATH", default="",
                                     description="A category model folder made by scripts/train_category.py")
    single_mode: EnumProperty(name="Mode", items=SINGLE_MODE_ITEMS, default="inversion",
                              description="GAN inversion, or the encoder alone for a preview in seconds")


CLASSES = (TexForgeViewResult, TexForgeSceneProperties)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register():
    _register_classes()
    bpy.types.Scene.texforge = bpy.props.PointerProperty(type=TexForgeSceneProperties)


def unregister():
    del bpy.types.Scene.texforge
    _unregister_classes()
