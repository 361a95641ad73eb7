"""Sidebar sub-panel of the single-image workflow (a child of TEXFORGE_PT_main): the photo (a file or the
active camera's background image), the category model and mode, Reconstruct (or the running job's progress
and Cancel), and the swap / interpolate operators on two selected reconstructions.
Drawing reads only cheap state: no pixels, no torch.
"""

from __future__ import annotations

import bpy

from ..convert import single_photo
from ..runtime import job as job_mod
from .panels import SidebarPanel


class TEXFORGE_PT_single_image(SidebarPanel, bpy.types.Panel):
    bl_idname = "TEXFORGE_PT_single_image"
    bl_label = "Single Image"
    bl_parent_id = "TEXFORGE_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        props = context.scene.texforge
        col = layout.column()
        col.use_property_split = True
        col.use_property_decorate = False
        col.prop(props, "single_image_path")
        if not props.single_image_path:
            problem = single_photo.camera_photo_problem(single_photo.photo_camera(context))
            row = col.row()
            row.alert = problem is not None
            row.label(text=problem or f"Photo: camera '{single_photo.photo_camera(context).name}'",
                      icon="INFO" if problem else "OUTLINER_OB_CAMERA")
        col.prop(props, "single_model_dir")
        col.prop(props, "single_mode")
        job = job_mod.active_job()
        if job is not None and not job.done:
            layout.progress(factor=job.fraction, type="BAR", text=job.status_text())
            row = layout.row()
            row.enabled = not job.cancel_requested
            row.operator("texforge.cancel_job", text="Cancel (Esc)", icon="CANCEL")
        else:
            layout.operator("texforge.reconstruct_single_image", icon="IMAGE_DATA")
        box = layout.box()
        box.label(text="Two selected reconstructions (active = A):")
        row = box.row(align=True)
        row.operator("texforge.swap_texture", icon="TEXTURE")
        row.operator("texforge.swap_shape", icon="MESH_DATA")
        box.operator("texforge.interpolate_reconstructions", icon="IPO_EASE_IN_OUT")


CLASSES = (TEXFORGE_PT_single_image,)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
