"""Evaluation and report logic (no bpy): camera errors, metric summaries over backend.metrics,
report.json schema and checks, HTML reports, contact sheets, batch aggregates.

Rendering lives in addon/ (render_views); metric primitives in backend/metrics; the scripts
scripts/evaluate.py and scripts/batch.py glue them together.
"""
