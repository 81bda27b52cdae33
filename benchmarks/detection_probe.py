"""Cost of the detection probe (issue 10): seconds per backbone EXCLUDING the forward pass.

Raccoon at 224 (letterbox): the real MobileNet v1 alpha 0.25 at c4 and c5 (the shared ImageNet
file) and a random-init ResNet50 at c5. For each: the forward pass that produces the feature tensor
(timed apart and not counted), the probe (5 folds: training + held-out prediction), and the COCOeval
evaluation with its bootstrap interval and the paired comparison with the prior. The prior baseline
of each map size is run once, as in a real run. Target: probe <= 60 s per backbone on 2 cores.

    flock /tmp/bbselect-heavy.lock env PYTHONPATH=$PWD .venv/bin/python benchmarks/detection_probe.py \
        [--data ../shared/data/boxes/raccoon] [--weights ../shared/weights/keras/mobilenet_2_5_224_tf_no_top.h5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bbselect.inputs import decode as dec
from bbselect.inputs import images as imgs
from bbselect.inputs.images import upright_size
from bbselect.models import runtime, stages
from bbselect.models.selection import parse_selection
from bbselect.models.weights import build_backbone
from bbselect.probes import cocometrics as cm
from bbselect.probes import detection as det
from bbselect.probes import study
from bbselect.scoring.evidence import find_boxes

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [("mobilenet:alpha=0.25", "real", "c4"), ("mobilenet:alpha=0.25", "real", "c5"),
           ("resnet50", "none", "c5")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "boxes" / "raccoon")
    ap.add_argument("--weights", default=str(ROOT.parent / "shared" / "weights" / "keras"
                                             / "mobilenet_2_5_224_tf_no_top.h5"))
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--boot", type=int, default=500)
    args = ap.parse_args()

    refs, _ = imgs.discover_images(args.data)
    images = [{"rel": r.rel, "id": r.id, "path": str(r.path)} for r in refs]
    boxes = find_boxes(args.data, images, "auto")
    if boxes is None:
        raise SystemExit(f"no boxes found in {args.data}")
    arrays, valid = [], {}
    for r in refs:
        a, v = dec.fit_to_input(dec.load_image(r.path), args.size, "letterbox")
        arrays.append(a)
        valid[r.rel] = v
    x = np.stack(arrays)
    rels = [r.rel for r in refs]
    sizes = {r.rel: upright_size(r.path) for r in refs}
    pimg = study.probe_images(rels, boxes.boxes, sizes, valid, args.size)
    gt = cm.coco_ground_truth([cm.to_image_pixels(b, g) for b, g in zip(pimg.boxes, pimg.geoms)],
                              pimg.classes, pimg.geoms, pimg.class_names)
    print(f"{args.data.name}: {len(rels)} images, {sum(len(b) for b in pimg.boxes)} boxes "
          f"({boxes.format}), input {args.size} letterbox; probe {det.ProbeConfig()}")
    keras = runtime.keras()
    priors = {}
    print(f"{'backbone':34} {'map':>6} {'C':>5} {'forward s':>9} {'probe s':>8} {'eval s':>7} "
          f"{'prior s':>8}  mAP@0.5 [95% CI]          prior mAP@0.5")
    for spec, weights, layer in CONFIGS:
        sel = parse_selection(spec)
        w = args.weights if weights == "real" else "none"
        model, _ = build_backbone(sel, w, args.size)
        name = stages.resolve_layer(model, layer).name
        fmodel = keras.Model(model.input, model.get_layer(name).output)
        t0 = time.perf_counter()
        feats = np.concatenate([np.asarray(fmodel.predict_on_batch(sel.spec.preprocess(
            x[i:i + 32].astype(np.float32)))) for i in range(0, len(x), 32)])
        forward = time.perf_counter() - t0
        hw = feats.shape[1:3]
        prior_s = ""
        if hw not in priors:
            pr = det.run_probe(det.prior_features(feats), pimg.boxes, pimg.classes, len(pimg.class_names),
                               args.size, groups=pimg.groups)
            priors[hw] = cm.evaluate(gt, cm.coco_detections(pr.detections, pimg.geoms))
            prior_s = f"{pr.seconds:.1f}"
        res = det.run_probe(feats, pimg.boxes, pimg.classes, len(pimg.class_names), args.size,
                            groups=pimg.groups)
        t0 = time.perf_counter()
        ev = cm.evaluate(gt, cm.coco_detections(res.detections, pimg.geoms))
        b = cm.bootstrap(ev, args.boot)
        cm.paired_bootstrap(ev, priors[hw], args.boot)
        evs = time.perf_counter() - t0
        label = f"{spec} {'ImageNet' if weights == 'real' else 'random'} {layer}"
        lo, hi = b["map50_ci"]
        print(f"{label:34} {hw[0]:>2}x{hw[1]:<3} {feats.shape[-1]:>5} {forward:>9.1f} {res.seconds:>8.1f} "
              f"{evs:>7.1f} {prior_s:>8}  {ev.map50:.3f} [{lo:.3f}, {hi:.3f}]   {priors[hw].map50:.3f}",
              flush=True)
        runtime.release()


if __name__ == "__main__":
    main()
