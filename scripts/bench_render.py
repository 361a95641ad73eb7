"""Benchmark of the DIB-R renderer: forward + backward milliseconds per view.

One step = render_mesh (rasterize, perspective-correct UV interpolation, bilinear texture sampling,
soft mask) + IoU loss on the soft mask + L1 loss on the colours, then backward to the vertices and the
texture. Meshes are icospheres with a little noise (1280, 5120, 20480 faces), batch of 8 views around
the object, square images. Beside it, in the same run: a brute-force pixel x face PyTorch reference of
the same step (texforge.render.dibr.reference_dibr), and kaolin's CUDA DIB-R when kaolin is importable.
Each configuration runs in a fresh subprocess so its peak memory (max RSS on CPU, max allocated on
CUDA) is its own.

    python scripts/bench_render.py [--quick] [--device cpu|cuda|all] [--faces 1280,5120] [--sizes 64,128]
                                   [--threads N] [--reps R] [--no-bruteforce] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FACES = [1280, 5120, 20480]
SIZES = [64, 128, 256, 512]
BATCH = 8
# the brute force runs where pixel x face pairs per view stay below this, plus the 5120-face 256^2
# target configuration (about 3 minutes per view on a loaded 2-core machine)
BRUTE_MAX_PAIRS = 1280 * 256 * 256
BRUTE_ALWAYS = {(5120, 256)}
# the brute force renders this many of the views: its cost is linear in the views (no shared work),
# and at 5120 faces 256^2 a batch of 8 would take tens of minutes
BRUTE_BATCH = 1


def make_scene(faces: int, size: int, batch: int, device, dtype=None):
    import numpy as np
    import torch
    import trimesh

    from texforge.render.camera import Cameras

    dtype = dtype or torch.float32
    subdiv = round(math.log(faces / 20, 4))
    mesh = trimesh.creation.icosphere(subdivisions=subdiv)
    rng = np.random.default_rng(0)
    v = mesh.vertices * (1.0 + 0.03 * rng.standard_normal((len(mesh.vertices), 1)))
    uv = np.stack([np.arctan2(v[:, 1], v[:, 0]) / (2 * np.pi) + 0.5,
                   np.arccos(np.clip(v[:, 2] / np.linalg.norm(v, axis=1), -1, 1)) / np.pi], 1)
    Rs, ts = [], []
    for k in range(batch):
        a = 2 * np.pi * k / batch
        eye = np.array([3 * np.cos(a), 3 * np.sin(a), 0.8 + 0.2 * np.sin(3 * a)])
        fwd = -eye / np.linalg.norm(eye)
        right = np.cross(fwd, [0, 0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        R = np.stack([right, down, fwd])
        Rs.append(R)
        ts.append(-R @ eye)
    K = np.array([[1.4 * size, 0, size / 2], [0, 1.4 * size, size / 2], [0, 0, 1]])
    cams = Cameras(torch.tensor(np.stack([K] * batch), dtype=dtype), torch.tensor(np.stack(Rs), dtype=dtype),
                   torch.tensor(np.stack(ts), dtype=dtype), size, size).to(device)
    g = torch.Generator().manual_seed(1)
    verts = torch.tensor(v, dtype=dtype, device=device)
    faces_t = torch.tensor(mesh.faces, dtype=torch.long, device=device)
    uvs = torch.tensor(uv, dtype=dtype, device=device)
    texture = torch.rand(1, 3, 256, 256, generator=g, dtype=dtype).to(device)
    target_mask = (torch.rand(batch, size, size, generator=g) > 0.5).to(device=device, dtype=dtype)
    target_rgb = torch.rand(batch, size, size, 3, generator=g, dtype=dtype).to(device)
    return verts, faces_t, uvs, texture, cams, target_mask, target_rgb


def step_ours(scene, sigmainv, boxlen):

    from texforge.render import kaolin_switch, mask_iou, render_mesh

    kaolin_switch.ENABLED = False  # this column measures the project's kernels, kaolin has its own
    verts, faces, uvs, texture, cams, tmask, trgb = scene
    v = verts.clone().requires_grad_(True)
    tex = texture.clone().requires_grad_(True)
    out = render_mesh(v, faces, cams, uvs=uvs, texture=tex, sigmainv=sigmainv, boxlen=boxlen)
    loss = mask_iou(out.soft_mask, tmask) + (out.rgb - trgb).abs().mean()
    loss.backward()
    return float(loss.detach())


def step_bruteforce(scene, sigmainv, boxlen):
    """The same step with every pixel tested against every face (screen-space UVs, no perspective
    correction: the reference measures the rasterizer, not the attribute interpolation)."""
    from texforge.render import mask_iou, texture_mapping
    from texforge.render.dibr import reference_dibr

    verts, faces, uvs, texture, cams, tmask, trgb = scene
    v = verts.clone().requires_grad_(True)
    tex = texture.clone().requires_grad_(True)
    ndc, zgl = cams.project_ndc(v)
    fxy = ndc[:, faces]
    fz = zgl.detach()[:, faces]
    p = fxy.detach()
    area2 = (p[:, :, 1, 0] - p[:, :, 0, 0]) * (p[:, :, 2, 1] - p[:, :, 0, 1]) \
        - (p[:, :, 2, 0] - p[:, :, 0, 0]) * (p[:, :, 1, 1] - p[:, :, 0, 1])
    fuv = uvs[faces].unsqueeze(0).expand(len(cams), -1, -1, -1)
    H = cams.height
    uv, soft, idx = reference_dibr(H, cams.width, fz, fxy, fuv, area2 > 0, sigmainv, boxlen, 30,
                                   pixel_chunk=max(256, (1 << 23) // faces.shape[0]))
    rgb = texture_mapping(uv, tex, mode="bilinear") * (idx >= 0).unsqueeze(-1)
    loss = mask_iou(soft, tmask) + (rgb - trgb).abs().mean()
    loss.backward()
    return float(loss.detach())


def step_kaolin(scene, sigmainv, boxlen):
    import kaolin  # noqa: F401  (only when importable)

    from texforge.render.kaolin_switch import kaolin_render_step
    return kaolin_render_step(scene, sigmainv, boxlen)


def worker(args):
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    batch = BRUTE_BATCH if args.impl == "bruteforce" else BATCH
    scene = make_scene(args.faces[0], args.sizes[0], batch, device)
    sigmainv, boxlen = 7000.0, 0.02  # kaolin's defaults at every size
    fn = {"ours": step_ours, "bruteforce": step_bruteforce, "kaolin": step_kaolin}[args.impl]

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()
    fn(scene, sigmainv, boxlen)  # warm-up
    sync()
    times, cpu = [], []
    for _ in range(args.reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(scene, sigmainv, boxlen)
        sync()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"ms_per_view": 1000 * min(times) / batch, "cpu_ms_per_view": 1000 * min(cpu) / batch,
                      "median_ms_per_view": 1000 * sorted(times)[len(times) // 2] / batch,
                      "peak_mb": peak, "threads": torch.get_num_threads()}))


def run_one(impl, device, faces, size, reps, threads, timeout=900):
    cmd = [sys.executable, __file__, "--worker", "--impl", impl, "--device", device, "--faces", str(faces),
           "--sizes", str(size), "--reps", str(reps)]
    if threads:
        cmd += ["--threads", str(threads)]
    # libgomp's default spin-waiting makes a second torch thread many times slower when other
    # processes load the cores; passive waiting keeps timings sane on a shared machine.
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    if res.returncode != 0:
        return {"error": (res.stderr.strip().splitlines() or ["failed"])[-1][:120]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="faces 1280,5120 and sizes 64,128 only, 2 reps")
    ap.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    ap.add_argument("--faces", default=None, help="comma-separated face counts (1280, 5120, 20480)")
    ap.add_argument("--sizes", default=None, help="comma-separated image sizes")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    ap.add_argument("--no-bruteforce", action="store_true")
    ap.add_argument("--markdown", default=None, help="also write the table to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--impl", default="ours", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.faces = [int(x) for x in args.faces.split(",")]
        args.sizes = [int(x) for x in args.sizes.split(",")]
        args.reps = args.reps or 3
        return worker(args)

    import torch
    faces = [int(x) for x in args.faces.split(",")] if args.faces else ([1280, 5120] if args.quick else FACES)
    sizes = [int(x) for x in args.sizes.split(",")] if args.sizes else ([64, 128] if args.quick else SIZES)
    reps = args.reps or (2 if args.quick else 5)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        devices.remove("cuda")
        print("CUDA not available: CPU only")
    try:
        import kaolin  # noqa: F401
        has_kaolin = True
    except Exception:  # noqa: BLE001 (any import failure means no kaolin)
        has_kaolin = False
    load = os.getloadavg()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, threads {args.threads or torch.get_num_threads()}, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, kaolin {'yes' if has_kaolin else 'no'}")
    header = ("| device | faces | image | ours ms/view | ours CPU ms/view | brute force ms/view | speed-up "
              "| kaolin ms/view | peak MB (ours) |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    print(header)
    print(lines[1])
    for device in devices:
        for nf in faces:
            for size in sizes:
                ours = run_one("ours", device, nf, size, reps, args.threads)
                brute = {"error": "skipped"}
                if not args.no_bruteforce and (nf * size * size <= BRUTE_MAX_PAIRS or (nf, size) in BRUTE_ALWAYS):
                    brute = run_one("bruteforce", device, nf, size, 1, args.threads)
                kao = run_one("kaolin", device, nf, size, reps, args.threads) if has_kaolin and device == "cuda" \
                    else {"error": "n/a"}

                def fmt(r):
                    return f"{r['ms_per_view']:.1f}" if "ms_per_view" in r else r["error"]
                ratio = (f"{brute['ms_per_view'] / ours['ms_per_view']:.0f}x"
                         if "ms_per_view" in brute and "ms_per_view" in ours else "-")
                peak = f"{ours['peak_mb']:.0f}" if "peak_mb" in ours else "-"
                cpu = f"{ours['cpu_ms_per_view']:.1f}" if "cpu_ms_per_view" in ours and device == "cpu" else "-"
                line = (f"| {device} | {nf} | {size}^2 | {fmt(ours)} | {cpu} | {fmt(brute)} | {ratio} | {fmt(kao)} "
                        f"| {peak} |")
                lines.append(line)
                print(line, flush=True)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
