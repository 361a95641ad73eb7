"""Evaluation and report logic (no bpy): camera errors, metric summaries over texforge.metrics,
report.json schema and checks, HTML reports, contact sheets, batch aggregates.

Rendering lives in addon/ (render_views); metric primitives in backend/texforge/metrics; the scripts
scripts/evaluate.py and scripts/batch.py glue them together.
"""
