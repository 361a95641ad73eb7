"""What the TexForge sidebar tells artists: the running job's progress with Cancel, the baked-lighting
note with its unlit preview, and corrected cameras left out of a re-run. Panels are drawn into
tests/blender_scripts/_common.RecordingLayout (bpy has no window)."""

import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy")

import addon  # noqa: E402
from addon.convert import roles  # noqa: E402
from addon.operators import preview  # noqa: E402
from addon.runtime import job as job_mod  # noqa: E402
from addon.ui import panels_workflow  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent / "blender_scripts"))
from _common import RecordingLayout  # noqa: E402




def _draw(panel_cls) -> RecordingLayout:
    layout = RecordingLayout()
    panel_cls.draw(SimpleNamespace(layout=layout), bpy.context)
    return layout


def _camera(scene, name, role=""):
    obj = bpy.data.objects.new(name, bpy.data.cameras.new(name))
    scene.collection.objects.link(obj)
    if role:
        roles.tag(obj, role)
    obj.select_set(True)
    return obj


def test_result_panel_explains_baked_lighting_and_offers_an_unlit_preview(tf):
    mesh = bpy.data.objects.new("Result", bpy.data.meshes.new("Result"))
    tf.collection.objects.link(mesh)
    tf.texforge.result_object = mesh
    assert panels_workflow.TEXFORGE_PT_results.poll(bpy.context)
    layout = _draw(panels_workflow.TEXFORGE_PT_results)
    texts = " ".join(layout.texts())
    assert "Lighting is baked in" in texts and "Preview unlit" in texts
    assert ("operator", "texforge.flat_preview", "") in layout.items
    assert ("operator", "texforge.export_game_asset", "") in layout.items


def test_reconstruct_panel_shows_progress_and_cancel_while_a_job_runs(tf):
    idle = _draw(panels_workflow.TEXFORGE_PT_reconstruct)
    assert ("operator", "texforge.reconstruct", "") in idle.items
    assert any("Light evenly" in t for t in idle.texts())

    release = threading.Event()

    def work(progress, should_stop):
        progress(0.4, "fitting the shape")
        release.wait(30)
        return None

    job = job_mod.Job("reconstruct", work).start()
    try:
        while job.progress_calls == 0:
            release.wait(0.01)
        busy = _draw(panels_workflow.TEXFORGE_PT_reconstruct)
        bars = [item for item in busy.items if item[0] == "progress"]
        assert len(bars) == 1 and bars[0][2] == pytest.approx(0.4) and "fitting the shape (40%" in bars[0][1]
        assert ("operator", "texforge.cancel_job", "Cancel (Esc)") in busy.items
        assert ("operator", "texforge.reconstruct", "") not in busy.items
        assert not bpy.ops.texforge.reconstruct.poll()  # one job at a time
    finally:
        release.set()
        job.wait(30)
        job.release()


def test_reconstruct_panel_says_when_corrected_cameras_are_left_out(tf):
    _camera(tf, "Cam")
    _camera(tf, "Cam (corrected)", roles.CORRECTED)
    texts = " ".join(_draw(panels_workflow.TEXFORGE_PT_reconstruct).texts())
    assert "1 corrected cameras of an earlier run are left out" in texts


def test_inputs_panel_offers_focal_refinement_beside_the_camera_trust(tf):
    items = _draw(panels_workflow.TEXFORGE_PT_inputs).items
    props = [it[1] for it in items if it[0] == "prop"]
    assert props.index("refine_focal") == props.index("camera_trust") + 1


def test_unlit_preview_changes_only_the_3d_view_shading(tf):
    screen = next(s for s in bpy.data.screens if preview.view3d_spaces(s))
    spaces = preview.view3d_spaces(screen)
    for space in spaces:
        space.shading.type, space.shading.light, space.shading.color_type = "MATERIAL", "STUDIO", "MATERIAL"
    counts = (len(bpy.data.materials), len(bpy.data.objects))
    area = next(a for a in screen.areas if a.type == "VIEW_3D")
    with bpy.context.temp_override(window=bpy.context.window_manager.windows[0], screen=screen, area=area):
        assert bpy.ops.texforge.flat_preview() == {"FINISHED"}
    assert all((s.shading.type, s.shading.light, s.shading.color_type) == ("SOLID", "FLAT", "TEXTURE")
               for s in spaces)
    assert (len(bpy.data.materials), len(bpy.data.objects)) == counts
