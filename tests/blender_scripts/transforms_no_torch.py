"""Import and export transforms.json with ``import torch`` blocked (a Blender without PyTorch).

    .venv/bin/python transforms_no_torch.py REPO_ROOT WORK_DIR

Writes a three-frame dataset with mask files into WORK_DIR, imports it through the operator, exports
the cameras again, and prints ``RESULT: {json}`` with what each step returned and produced. Run by
tests/test_addon_transforms.py in a fresh process.
"""

import json
import os
import sys
import traceback

import _common

blocker = _common.block(["torch"], "missing")
sys.path.insert(0, sys.argv[1])
work = sys.argv[2]

import bpy  # noqa: E402
import numpy as np  # noqa: E402

R = {"errors": []}
try:
    from texforge.geometry.camera_convert import c2w_gl_to_rt
    from texforge.data.images import write_png
    from texforge.data.transforms_io import write_transforms

    os.makedirs(os.path.join(work, "images"), exist_ok=True)
    files, masks, Rs, ts = [], [], [], []
    for i in range(3):
        img = np.full((24, 32, 3), 0.5, dtype=np.float32)
        mask = np.zeros((24, 32), dtype=np.float32)
        mask[6:18, 8 + i:20 + i] = 1.0
        write_png(os.path.join(work, "images", f"f{i}.png"), img)
        write_png(os.path.join(work, "images", f"f{i}_mask.png"), mask)
        files.append(f"images/f{i}.png")
        masks.append(f"images/f{i}_mask.png")
        a = 2 * np.pi * i / 3
        c2w = np.eye(4)
        c2w[:3, 3] = [3 * np.cos(a), 3 * np.sin(a), 0.5]
        c2w[:3, :3] = np.array([[-np.sin(a), 0, np.cos(a)], [np.cos(a), 0, np.sin(a)], [0, 1, 0]])
        r, t = c2w_gl_to_rt(c2w)
        Rs.append(r), ts.append(t)
    K = np.array([[40.0, 0, 16], [0, 40.0, 12], [0, 0, 1]])
    write_transforms(os.path.join(work, "transforms.json"), np.stack([K] * 3), np.stack(Rs), np.stack(ts), 32, 24,
                     files, mask_paths=masks)

    import addon
    addon.register()
    R["import"] = sorted(bpy.ops.texforge.import_transforms(filepath=os.path.join(work, "transforms.json")))
    cams = sorted((o for o in bpy.context.selected_objects if o.type == "CAMERA"), key=lambda o: o.name)
    from addon.convert import scene_inputs
    R["cameras"] = len(cams)
    R["photos"] = [os.path.basename(scene_inputs.camera_image(c).filepath) for c in cams]
    R["masks"] = [os.path.basename(scene_inputs.camera_mask_image(c).filepath) for c in cams]
    out = os.path.join(work, "out")
    os.makedirs(out)
    R["export"] = sorted(bpy.ops.texforge.export_transforms(filepath=os.path.join(out, "transforms.json")))
    with open(os.path.join(out, "transforms.json"), encoding="utf-8") as f:
        meta = json.load(f)
    R["exported_masks"] = [os.path.normpath(os.path.join(out, fr.get("mask_path", ""))) for fr in meta["frames"]]
    R["expected_masks"] = [os.path.normpath(os.path.join(work, m)) for m in masks]
    R["exported_matrices"] = [fr["transform_matrix"] for fr in meta["frames"]]
    addon.unregister()
except Exception:  # noqa: BLE001 - reported to the test
    R["errors"].append(traceback.format_exc())
R["attempts"] = sorted(set(blocker.attempts))
R["torch_modules"] = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
_common.emit(R)
