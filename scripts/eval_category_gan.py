"""KID of a category GAN's samples against held-out objects, and a contact sheet of generated objects.

    python scripts/eval_category_gan.py GAN --maps MAPS (--collection DIR | --synthetic-heldout N) [--model MODEL]
           [--samples N] [--azimuths K] [--sheet PNG] [--json FILE]

GAN: a category GAN checkpoint (gan.safetensors or its folder); MAPS: the pseudo-GT maps it trained on,
for two references: the template with their mean texture, and renders of N of the maps themselves (the
KID the GAN's own data reaches). Held-out images: the collection's held-out objects (every view), or
with --synthetic-heldout N renders of N synthetic development objects (seed 1) from K azimuths. GAN
samples and references are rendered from K evenly spaced azimuths each. With --model (a category-model
folder with its reconstruction network) and --collection, a third reference: the network's reconstructions
of the held-out objects from their first view. KID is on EffNet-Lite0 features.
Bad input exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys


def parse_args(argv):
    p = argparse.ArgumentParser(prog="eval_category_gan.py", description=__doc__.split("\n\n")[0])
    p.add_argument("gan", help="gan.safetensors or the folder holding it")
    p.add_argument("--maps", required=True, help="maps.safetensors the GAN trained on (or its model folder)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--collection", help="collection folder: its held-out objects are the reference")
    src.add_argument("--synthetic-heldout", type=int, metavar="N", help="N synthetic held-out objects instead")
    p.add_argument("--model", default=None, help="category-model folder: add its reconstructions of the held-out "
                   "objects as a reference (with --collection)")
    p.add_argument("--samples", type=int, default=50, metavar="N", help="GAN samples (default 50)")
    p.add_argument("--azimuths", type=int, default=12, metavar="K", help="views per generated object (default 12)")
    p.add_argument("--sheet", default=None, metavar="PNG", help="write a contact sheet of 16 generated objects")
    p.add_argument("--json", default=None, metavar="FILE", help="write the figures as JSON")
    return p.parse_args(argv)


def _some_maps(maps, count):
    """``count`` of the training maps (evenly spaced): rendered like the samples, they show the KID the
    GAN's own training data reaches."""
    import numpy as np

    idx = np.linspace(0, len(maps["texture"]) - 1, min(count, len(maps["texture"]))).round().astype(int)
    return maps["texture"][idx], maps["deformation"][idx]


def _reconstructions(model, coll):
    """(textures, deformations) the model's reconstruction network predicts from each held-out object's
    first view (in the world frame, the view's known azimuth)."""
    import torch

    from texforge.data.collection import load_object
    from texforge.models.category_model import predict_world
    from texforge.models.category_prior import CategoryEncoder
    from texforge.nets.category_recon import spherical_of_cameras

    enc = CategoryEncoder(model)
    textures, deformations = [], []
    for object_id in coll.heldout:
        ds = load_object(coll, object_id, max_size=enc.image_size)
        x = torch.as_tensor(ds.images[:1] * ds.masks[:1, ..., None]).permute(0, 3, 1, 2).float()
        azimuth = spherical_of_cameras(ds.cameras.centers[:1].float())[:, 0]
        with torch.no_grad():
            out = predict_world(enc.network, enc.template, x, azimuth)
        textures.append(out["texture"][0])
        deformations.append(out["deformation"][0])
    return torch.stack(textures), torch.stack(deformations)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from texforge.atomic import write_text
    from texforge.data.images import write_png
    from texforge.models.category_model import load_generator, load_maps
    from texforge.pipelines.category.gan import TemplateRenderer, collection_images, synthetic_maps
    from texforge.pipelines.category.generate import (contact_sheet, evaluate_category_gan, mean_texture,
                                                      render_turntables)
    from texforge.runtime.errors import InputError

    try:
        _, cfg, _ = load_generator(args.gan)
        maps = load_maps(args.maps)
        if args.collection:
            from texforge.data.collection import read_collection

            coll = read_collection(args.collection)
            if not coll.heldout:
                raise InputError(f"{coll.root}: the collection has no held-out objects")
            dist, aspect = coll.cameras, tuple(coll.size)
            heldout = collection_images(coll, coll.heldout, cfg.image_size)[0]
        else:
            from texforge.data.collection import CameraDistribution

            dist, aspect = CameraDistribution(), (1, 1)
            held = synthetic_maps(args.synthetic_heldout, cfg.texture_size, cfg.deformation_size, seed=1)
            heldout = render_turntables(held["texture"], held["deformation"], TemplateRenderer(dist, cfg.image_size),
                                        args.azimuths, seed=7)
        reconstructions = _reconstructions(args.model, coll) if args.model and args.collection else None
        res = evaluate_category_gan(args.gan, heldout, dist, aspect, reconstruction_maps=reconstructions,
                                    mean_texture_map=mean_texture(maps["texture"], maps["visibility"]),
                                    reference_maps={"pseudo_gt_maps": _some_maps(maps, args.samples)},
                                    samples=args.samples, azimuths=args.azimuths,
                                    progress=lambda f, m: print(f"{100 * f:5.1f}% {m}", flush=True))
        if args.sheet:
            write_png(args.sheet, contact_sheet(args.gan, 16, distribution=dist))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    res.pop("renders", None)
    for name, (m, s) in res["kid"].items():
        print(f"KID (EffNet-Lite0) {name:>24}: {m:.4f} +- {s:.4f} ({res['images'][name]} images vs "
              f"{res['images']['heldout']} held-out)")
    if args.json:
        write_text(args.json, json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    status = main()
    if status:
        sys.exit(status)
