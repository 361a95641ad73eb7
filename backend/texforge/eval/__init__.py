"""Evaluation as a library (no bpy): one evaluation's plan, scores and atomic report folder (evaluation),
camera errors and their Procrustes alignment (cameras), metric summaries over texforge.metrics (scores),
multi-view quality figures with the project's renderer (multiview), report.json schema and checks
(report), HTML reports, contact sheets, batch aggregates.

Blender renders and the batch runner live in texforge_blender (evaluate_render, batch); metric
primitives (the one hard IoU, PSNR, SSIM, geometry, features) in texforge.metrics; scripts/evaluate.py,
scripts/batch.py and scripts/eval_multiview_quality.py only parse arguments and call these.
"""
