"""Self-contained HTML pages for report.json and aggregate.json (images referenced relatively)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from ..atomic import write_text
from .report import METRICS

_STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f0f0f0} td.l,th.l{text-align:left}
img.px{image-rendering:pixelated;height:160px}
img.tt{image-rendering:pixelated;width:100%;max-width:1400px}
.note{color:#666;font-size:90%}
"""


def fmt(v, digits: int = 4) -> str:
    if v is None:
        return "&ndash;"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return escape(str(v))


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n<h1>{escape(title)}</h1>\n{body}\n</body></html>\n")


def _metrics_table(metrics: dict, missing: dict) -> str:
    rows = []
    for key, (label, _, _, better) in METRICS.items():
        v = metrics.get(key)
        why = f" <span class='note'>({escape(missing[key])})</span>" if v is None and key in missing else ""
        rows.append(f"<tr><td class='l'>{escape(label)}</td><td>{fmt(v)}{why}</td>"
                    f"<td class='l note'>{better} is better</td></tr>")
    return "<table><tr><th class='l'>metric</th><th>value</th><th></th></tr>" + "".join(rows) + "</table>"


def _camera_table(cams: dict | None) -> str:
    if not cams:
        return "<p class='note'>No exact cameras (transforms_gt.json) or no cameras in result.json.</p>"
    head = ("<tr><th class='l'>view</th><th>rot before (deg)</th><th>rot after (deg)</th>"
            "<th>centre before (rel)</th><th>centre after (rel)</th></tr>")
    before = {v["name"]: v for v in (cams.get("before") or {}).get("per_view", [])}
    after = {v["name"]: v for v in (cams.get("after") or {}).get("per_view", [])}
    rows = []
    for name in list(before) + [n for n in after if n not in before]:
        b, a = before.get(name, {}), after.get(name, {})
        rows.append(f"<tr><td class='l'>{escape(name)}</td><td>{fmt(b.get('rot_deg'))}</td>"
                    f"<td>{fmt(a.get('rot_deg'))}</td><td>{fmt(b.get('trans_rel'))}</td>"
                    f"<td>{fmt(a.get('trans_rel'))}</td></tr>")
    pruned = cams.get("pruned") or []
    note = f"<p class='note'>Pruned by the pipeline (left out): {escape(', '.join(pruned))}</p>" if pruned else ""
    return "<table>" + head + "".join(rows) + "</table>" + note


def _alignment_note(al: dict | None) -> str:
    if not al:
        return ""
    return (f"<p class='note'>Procrustes alignment of the corrected onto the exact camera centres "
            f"({al['matched']} views): scale {fmt(al['scale'])}, centre RMS {fmt(al['centre_rms_before'])} -> "
            f"{fmt(al['centre_rms_after'])}; the aligned held-out figures render through the held-out cameras "
            f"moved by it{'' if al.get('applied') else ' (not applied: no held-out views)'}.</p>")


def _realism_table(realism: dict | None) -> str:
    if not realism:
        return ""
    first = next(iter(realism.values()))
    rows = "".join(f"<tr><td class='l'>{escape(name)}</td><td>{fmt(v.get('kid'))}</td><td>{fmt(v.get('kid_std'))}</td>"
                   f"<td>{fmt(v.get('fid'))}</td><td>{fmt(v.get('psnr'))}</td><td>{fmt(v.get('iou'))}</td></tr>"
                   for name, v in realism.items())
    return ("<h2>Texture realism (held-out views, masked on the dataset background)</h2><table><tr>"
            "<th class='l'>texture</th><th>KID</th><th>KID std</th><th>FID</th><th>PSNR</th><th>IoU</th></tr>"
            f"{rows}</table><p class='note'>{escape(str(first.get('features', '')))}, {first.get('views')} views: "
            "rank textures by these, do not compare them with Inception FID / KID.</p>")


def report_html(report: dict) -> str:
    """The HTML page of one evaluation report (image paths relative to the report's folder)."""
    s = report.get("settings", {})
    parts = [
        f"<p>result: <code>{escape(str(report.get('result')))}</code><br>dataset: "
        f"<code>{escape(str(report.get('dataset')))}</code><br>ground-truth mesh: "
        f"<code>{escape(str(report.get('gt_mesh')))}</code><br>renderer: {escape(str(s.get('engine')))}, "
        f"{escape(str(s.get('samples')))} samples, {escape(str(s.get('lighting')))} lighting</p>",
        f"<p class='note'>Perceptual distance, KID and FID-style scores use {escape(report.get('features', ''))}"
        " (ImageNet EfficientNet-Lite0), not Inception: compare them only with each other.</p>",
        "<h2>Metrics</h2>", _metrics_table(report.get("metrics", {}), report.get("missing", {})),
        _realism_table(report.get("texture_realism")),
        "<h2>Held-out views: photo | reconstruction | error</h2>",
        "<table><tr><th class='l'>view</th><th>image</th><th>IoU</th><th>PSNR</th><th>SSIM</th>"
        "<th>perceptual</th><th>IoU aligned</th><th>PSNR aligned</th></tr>",
    ]
    for v in report.get("per_view", []):
        img = f"<img class='px' src='{escape(v['image'])}' alt='{escape(v['name'])}'>" if v.get("image") else ""
        parts.append(f"<tr><td class='l'>{escape(v['name'])}</td><td>{img}</td><td>{fmt(v.get('iou'))}</td>"
                     f"<td>{fmt(v.get('psnr'))}</td><td>{fmt(v.get('ssim'))}</td>"
                     f"<td>{fmt(v.get('perceptual'))}</td><td>{fmt(v.get('iou_aligned'))}</td>"
                     f"<td>{fmt(v.get('psnr_aligned'))}</td></tr>")
    parts.append("</table>")
    tt = report.get("images", {}).get("turntable")
    if tt:
        parts += ["<h2>Turntable</h2>", f"<img class='tt' src='{escape(tt)}' alt='turntable'>"]
    parts += ["<h2>Cameras vs exact</h2>", _camera_table(report.get("cameras")), _alignment_note(report.get("alignment"))]
    timings = report.get("timings", {})
    if timings:
        parts.append("<h2>Timings (s)</h2><table>" + "".join(
            f"<tr><td class='l'>{escape(k)}</td><td>{fmt(v, 3)}</td></tr>" for k, v in timings.items()) + "</table>")
    return _page("TexForge evaluation", "\n".join(parts))


def write_report_html(report: dict, out_dir) -> Path:
    return write_text(Path(out_dir) / "report.html", report_html(report))


def aggregate_html(agg: dict) -> str:
    """The HTML page of a batch aggregate: one row per scene, then the means."""
    keys = [k for k in METRICS if any(s["metrics"].get(k) is not None for s in agg.get("scenes", []))]
    head = "<tr><th class='l'>scene</th>" + "".join(f"<th>{escape(k)}</th>" for k in keys) + "</tr>"
    rows = []
    for s in agg.get("scenes", []):
        link = f"<a href='{escape(s['report_html'])}'>{escape(s['name'])}</a>" if s.get("report_html") else escape(s["name"])
        rows.append(f"<tr><td class='l'>{link}</td>" + "".join(f"<td>{fmt(s['metrics'].get(k))}</td>" for k in keys) + "</tr>")
    means = agg.get("mean", {})
    rows.append("<tr><th class='l'>mean</th>" + "".join(f"<th>{fmt(means.get(k))}</th>" for k in keys) + "</tr>")
    legend = "".join(f"<li><b>{escape(k)}</b>: {escape(METRICS[k][0])} ({METRICS[k][3]} is better)</li>" for k in keys)
    pending = agg.get("pending", [])
    pend = f"<p class='note'>Not finished yet: {escape(', '.join(pending))}</p>" if pending else ""
    body = (f"<p>{len(agg.get('scenes', []))} finished scene(s).</p><table>{head}{''.join(rows)}</table>"
            f"{pend}<ul class='note'>{legend}</ul>")
    return _page("TexForge batch evaluation", body)


def write_aggregate_html(agg: dict, out_dir) -> Path:
    return write_text(Path(out_dir) / "aggregate.html", aggregate_html(agg))
