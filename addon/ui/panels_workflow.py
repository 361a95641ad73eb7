"""Sidebar sub-panels of the multi-view workflow (children of TEXFORGE_PT_main).

Inputs (cameras with photos, turntable rig, transforms.json), Reconstruct (button or progress bar with
stage and time left, plus Cancel), Result (per-view figures, pruned frames, the baked-lighting note with
an unlit preview, apply cameras, export).
Drawing reads only cheap state: no pixels, no torch.
"""

from __future__ import annotations

import bpy

from ..runtime import job as job_mod
from ..convert import scene_inputs
from .panels import SidebarPanel


class TEXFORGE_UL_views(bpy.types.UIList):
    """One row per input view: name, IoU, PSNR, or why it was pruned."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        row = layout.row(align=True)
        row.label(text=item.name, icon="ERROR" if item.pruned else "OUTLINER_OB_CAMERA")
        if item.pruned:
            row.label(text=f"pruned: {item.reason}" if item.reason else "pruned")
            return
        row.label(text=f"IoU {item.iou:.3f}" if item.iou >= 0 else "IoU -")
        row.label(text=f"{item.psnr:.1f} dB" if item.psnr >= 0 else "PSNR -")


class TEXFORGE_PT_inputs(SidebarPanel, bpy.types.Panel):
    bl_idname = "TEXFORGE_PT_inputs"
    bl_label = "Photos & Cameras"
    bl_parent_id = "TEXFORGE_PT_main"

    def draw(self, context):
        layout = self.layout
        props = context.scene.texforge
        cams = scene_inputs.selected_cameras(context)
        with_photos = sum(1 for c in cams if scene_inputs.camera_image(c) is not None)
        box = layout.box()
        box.label(text=f"{with_photos} of {len(cams)} selected cameras have photos", icon="CAMERA_DATA")
        problem = scene_inputs.cameras_problem(context.scene, cams)
        if problem:
            col = box.column()
            col.alert = True
            col.label(text=problem, icon="INFO")
        col = layout.column()
        col.use_property_split = True
        col.use_property_decorate = False
        col.prop(props, "mask_source")
        col.prop(props, "max_image_size")
        col.prop(props, "camera_trust")
        row = col.row()
        row.active = props.camera_trust != "calibrated"   # calibrated cameras keep their focal lengths
        row.prop(props, "refine_focal")
        col = layout.column(align=True)
        col.operator("texforge.create_turntable_rig", icon="CON_FOLLOWPATH")
        row = col.row(align=True)
        row.operator("texforge.import_transforms", text="Import transforms", icon="IMPORT")
        row.operator("texforge.export_transforms", text="Export transforms", icon="EXPORT")
        col.operator("texforge.import_capture", text="Import capture (COLMAP / LLFF / IDR)", icon="IMPORT")


class TEXFORGE_PT_reconstruct(SidebarPanel, bpy.types.Panel):
    bl_idname = "TEXFORGE_PT_reconstruct"
    bl_label = "Reconstruct"
    bl_parent_id = "TEXFORGE_PT_main"

    def draw(self, context):
        layout = self.layout
        job = job_mod.active_job()
        if job is not None and not job.done:
            layout.progress(factor=job.fraction, type="BAR", text=job.status_text())
            row = layout.row()
            row.enabled = not job.cancel_requested
            row.operator("texforge.cancel_job", text="Cancel (Esc)", icon="CANCEL")
            return
        layout.operator("texforge.reconstruct", icon="MESH_ICOSPHERE")
        skipped = scene_inputs.skipped_corrected_cameras(context)
        if skipped:
            layout.label(text=f"{len(skipped)} corrected cameras of an earlier run are left out", icon="INFO")
        layout.label(text=SHOOTING_NOTE, icon="LIGHT_SUN")


class TEXFORGE_PT_results(SidebarPanel, bpy.types.Panel):
    bl_idname = "TEXFORGE_PT_results"
    bl_label = "Result"
    bl_parent_id = "TEXFORGE_PT_main"

    @classmethod
    def poll(cls, context):
        return len(context.scene.texforge.views) > 0 or context.scene.texforge.result_object is not None

    def draw(self, context):
        layout = self.layout
        props = context.scene.texforge
        if props.result_object is not None:
            layout.label(text=props.result_object.name, icon="OUTLINER_OB_MESH")
        if props.result_summary:
            layout.label(text=props.result_summary)
        layout.template_list("TEXFORGE_UL_views", "", props, "views", props, "views_index", rows=4)
        draw_baked_lighting_note(layout.box())
        col = layout.column(align=True)
        col.operator("texforge.apply_corrected_cameras", icon="CON_CAMERASOLVER")
        col.operator("texforge.export_game_asset", icon="EXPORT")
        draw_texture_variations(layout.box(), props)


def draw_texture_variations(layout, props) -> None:
    """The texture GAN's settings and button (the active job's progress and Cancel show in Reconstruct)."""
    layout.label(text="Texture Variations (GAN)", icon="TEXTURE")
    col = layout.column()
    col.use_property_split = True
    col.use_property_decorate = False
    col.prop(props, "texture_gan_preset")
    col.prop(props, "texture_gan_iterations")
    col.prop(props, "texture_gan_variations")
    col.prop(props, "texture_gan_seed")
    layout.operator("texforge.generate_texture_variations", icon="SHADERFX")
    layout.label(text="Adds material slots; Shown Slot picks the one the faces show", icon="INFO")
    col = layout.column()
    col.use_property_split = True
    col.prop(props, "texture_shown_slot")


# The texture is made from the photos, so their lighting is in it; artists who light the result again
# see it dark where the scene's light is dim (from behind) and take it for a failed reconstruction.
SHOOTING_NOTE = "Light evenly when shooting: the photos' light ends up in the texture"
BAKED_LIGHTING_NOTE = (
    "Lighting is baked in: the texture holds the photos' light and shade",
    "Dark under dim scene light? Preview unlit, or light the scene evenly",
)


def draw_baked_lighting_note(layout) -> None:
    col = layout.column(align=True)
    col.label(text=BAKED_LIGHTING_NOTE[0], icon="INFO")
    col.label(text=BAKED_LIGHTING_NOTE[1])
    col.operator("texforge.flat_preview", icon="SHADING_SOLID")


CLASSES = (TEXFORGE_UL_views, TEXFORGE_PT_inputs, TEXFORGE_PT_reconstruct, TEXFORGE_PT_results)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
