"""The "TexForge" tab in the 3D View sidebar (N panel).

TEXFORGE_PT_main is the parent; workflows add sub-panels in their own modules with
``bl_parent_id = "TEXFORGE_PT_main"`` plus the same space/region/category (use ``SidebarPanel`` as a mixin).
Panels draw every redraw, so they use ``torch_status.quick_status()`` (no torch import).
"""

from __future__ import annotations

import bpy

from ..runtime import torch_status


class SidebarPanel:
    """Mixin: space, region and tab shared by every TexForge sidebar panel."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "TexForge"


class TEXFORGE_PT_main(SidebarPanel, bpy.types.Panel):
    bl_idname = "TEXFORGE_PT_main"
    bl_label = "TexForge"

    def draw(self, context):
        layout = self.layout
        props = context.scene.texforge
        draw_torch_warning(layout)
        col = layout.column()
        col.use_property_split = True
        col.use_property_decorate = False
        col.prop(props, "preset")
        col.prop(props, "device")
        col.prop(props, "output_dir")


def draw_torch_warning(layout) -> None:
    """A red box saying PyTorch is missing and where to install it; nothing when torch looks importable."""
    status = torch_status.quick_status()
    if status.available:
        return
    box = layout.box()
    box.alert = True
    box.label(text="PyTorch is missing", icon="ERROR")
    box.label(text=status.error)
    box.label(text="Install it in the add-on preferences")
    addon_package = __package__.rpartition(".")[0]
    box.operator("preferences.addon_show", text="Open Preferences", icon="PREFERENCES").module = addon_package


CLASSES = (TEXFORGE_PT_main,)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
