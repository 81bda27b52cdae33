"""Does the frozen detection probe predict a FINE-TUNED detector?  A fine-tuning ground truth (issue 23).

    python studies/finetune_study.py              # full study (budget: 60 min on 2 cores)
    python studies/finetune_study.py --quick      # smoke test: 2 networks, 2 folds, 1 epoch
    python studies/finetune_study.py --from-cache # tables, docs block and validated.json from the cache

For every zoo network with ImageNet weights (``../shared/weights/zoo/zoo.json``: MobileNet v1 α 0.25,
MobileNetV2 α 1.0 and 0.35, MobileNetV3-Small, EfficientNet-Lite0, SqueezeNet 1.1) and random-init
copies of two of them (MobileNet v1 α 0.25, MobileNetV2 α 0.35), on raccoon (200 photos, one class):

* **ground truth**: a detector fine-tuned end to end (``finetune_train``: the probe's CenterNet-style
  head on the c4 tap, backbone unfrozen, one fixed schedule), k-fold by image with the folds of
  bbselect's detection probe (``detection.fold_assignment``: same seed, duplicate images grouped),
  every image detected by a detector that never saw it; mAP@0.5 and mAP@[.5:.95] by pycocotools
  (``cocometrics``) with bootstrap intervals over images.  Two schedule lengths (short, long).
* **predictors** on the same networks, images and folds: bbselect's frozen detection probe
  (``detection.run_probe``, its default head and epochs), the cheap box scores (ROI-LogME, TLogME,
  objectness AUROC and its gain over the position prior: ``roiscores.backbone_scores``) and the
  publisher's ImageNet top-1 (zoo.json; a random-init copy counts at chance, 0.1 %).

``finetune_report`` turns the measurements into Kendall τ with bootstrap intervals over networks, the
fine-tuned tie set, the gain of pretrained over random init, the docs block and validated.json's
"finetune" key.  Per-network results are cached (``--cache``, default ``results/finetune_cache.json``,
never committed), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "studies"))

import numpy as np  # noqa: E402

import finetune_train as ft  # noqa: E402

SIZE = 224
SEED = 0
# (key, zoo name, random init?)
NETWORKS = [
    ("mobilenet_v1_0.25", "mobilenet_v1_0.25", False),
    ("mobilenetv2_1.0", "mobilenetv2_1.0", False),
    ("mobilenetv2_0.35", "mobilenetv2_0.35", False),
    ("mobilenetv3small_1.0", "mobilenetv3small_1.0", False),
    ("efficientnet_lite0", "efficientnet_lite0", False),
    ("squeezenet_v1_1", "squeezenet_v1_1", False),
    ("mobilenet_v1_0.25 (random)", "mobilenet_v1_0.25", True),
    ("mobilenetv2_0.35 (random)", "mobilenetv2_0.35", True),
]
QUICK_NETWORKS = ["mobilenet_v1_0.25", "mobilenet_v1_0.25 (random)"]
# Full study: 3 folds (not the probe's default 5) and 15 / 5 epochs, to fit 60 min on 2 shared cores.
FOLDS, LONG, SHORT, PROXY = 3, 15, 5, 5


def load_data(shared: Path) -> dict:
    """raccoon letterboxed at SIZE (bbselect's fit), its boxes in input pixels, geometry and groups."""
    from studies.validation import measure_boxes as vb

    from bbselect.common import file_digest
    from bbselect.inputs import decode as dec
    from bbselect.probes import study
    from bbselect.inputs.images import upright_size

    d = vb.load_box_data(shared / "data" / "boxes" / "raccoon")
    imgs, valid, rels, sizes = [], [], [], {}
    for r in d["refs"]:
        a, v = dec.fit_to_input(dec.load_image(r.path), SIZE, "letterbox")
        imgs.append(a)
        valid.append(tuple(int(x) for x in v))
        rels.append(r.rel)
        sizes[r.rel] = upright_size(Path(r.path))
    groups = {r.rel: file_digest(r.path) for r in d["refs"]}
    pimg = study.probe_images(rels, d["boxes"].boxes, sizes, dict(zip(rels, valid)), SIZE, groups)
    images = np.stack(imgs)
    pick = np.sort(np.random.default_rng(SEED).choice(len(images), ft.BN_IMAGES, replace=False))
    return {"images": images, "boxes": pimg.boxes, "classes": pimg.classes, "valid": valid,
            "n_classes": len(pimg.class_names), "bn_images": images[pick], "pimg": pimg,
            "norm_boxes": [d["boxes"].boxes.get(r, []) for r in rels]}


def dets_json(dets) -> list:
    return [{"boxes": np.round(d.boxes, 2).tolist(), "scores": np.round(d.scores, 5).tolist(),
             "classes": d.classes.tolist()} for d in dets]


class Cache:
    """The measurements so far, one JSON file; a phase whose schedule changed is measured again."""

    def __init__(self, path: Path, meta: dict):
        self.path = path
        old = json.loads(path.read_text()) if path.exists() else {}
        same = lambda m: {k: v for k, v in (m or {}).items() if k != "schedules"}  # noqa: E731
        if old and same(old.get("meta")) != same(meta):
            print(f"cache {path}: folds, seed or size changed, starting afresh", flush=True)
            old = {}
        self.data = old or {"networks": {}}
        self.data["meta"] = meta
        self.t_last = time.perf_counter()

    def net(self, key: str) -> dict:
        return self.data["networks"].setdefault(key, {})

    def save(self) -> None:
        """Write the file; the wall time since the last save is added to ``wall_seconds`` (so an
        interrupted run's time is counted too)."""
        now = time.perf_counter()
        self.data["wall_seconds"] = self.data.get("wall_seconds", 0.0) + now - self.t_last
        self.t_last = now
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        tmp.replace(self.path)


def frozen_part(tuner, data: dict, folds: int, entry: dict) -> None:
    """bbselect's frozen detection probe and cheap box scores on the initial network's features."""
    from bbselect.probes import detection as det
    from bbselect.scoring import roiscores

    t0 = time.perf_counter()
    feats = tuner.frozen_features()
    t1 = time.perf_counter()
    pimg = data["pimg"]
    res = det.run_probe(feats, pimg.boxes, pimg.classes, len(pimg.class_names), SIZE,
                        det.ProbeConfig(folds=folds, seed=SEED), groups=pimg.groups)
    t2 = time.perf_counter()
    cheap = roiscores.backbone_scores(feats, data["valid"], data["norm_boxes"], SIZE, seed=SEED)
    entry["frozen"] = {"dets": dets_json(res.detections), "fold_of": res.fold_of.tolist(),
                       "map_hw": list(feats.shape[1:3]), "channels": int(feats.shape[3]),
                       "seconds": {"features": t1 - t0, "probe": t2 - t1, "cheap": time.perf_counter() - t2},
                       "cheap": {k: cheap[k] for k in roiscores.NAMES}}


def finetune_part(net: dict, zoo: Path, data: dict, fold_of: np.ndarray, sched, entry: dict, tag: str,
                  cache: Cache, data_frozen: bool = False) -> None:
    """One schedule, every fold (resumable per fold)."""
    if (entry.get(tag) or {}).get("schedule") != ft.schedule_dict(sched):
        entry[tag] = {"folds": {}, "schedule": ft.schedule_dict(sched)}
    done = entry[tag]
    k = int(fold_of.max()) + 1
    if len(done["folds"]) == k and (not data_frozen or "frozen" in entry):
        return
    tuner = ft.FineTuner(net, zoo, data, sched, int(np.sum(fold_of != 0)))
    done["build_seconds"] = tuner.build_seconds
    if data_frozen and "frozen" not in entry:
        frozen_part(tuner, data, k, entry)
        cache.save()
    for f in range(k):
        if str(f) in done["folds"]:
            continue
        tr, te = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
        dets, sec = tuner.run(tr, te, SEED * 1000 + f)
        done["folds"][str(f)] = {"test": te.tolist(), "dets": dets_json(dets), "seconds": sec}
        cache.save()
        print(f"  {tag} fold {f}: {sec:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: 2 networks, 2 folds, 1 epoch")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--cache", default=None, help="per-network results [default: results/finetune_cache.json]")
    ap.add_argument("--phases", default="frozen,short,long",
                    help="comma-separated: frozen, short, long, proxy (last stage only, short) [default: %(default)s]")
    ap.add_argument("--networks", default=None, help="comma-separated subset of the study's network keys")
    ap.add_argument("--from-cache", action="store_true", help="measure nothing; report from the cache")
    ap.add_argument("--doc", default=str(ROOT / "docs" / "validation.md"))
    ap.add_argument("--validated", default=str(ROOT / "bbselect" / "scoring" / "validated.json"))
    ap.add_argument("--no-doc", action="store_true", help="print only; write neither the page nor validated.json")
    ap.add_argument("--n-boot", type=int, default=500)
    args = ap.parse_args(argv)

    shared = Path(args.shared).expanduser()
    zoo = shared / "weights" / "zoo"
    if not (zoo / "zoo.json").exists() or not (shared / "data" / "boxes" / "raccoon").is_dir():
        sys.exit(f"finetune_study: the shared data is missing under {shared} (pass --shared PATH)")
    folds, long_e, short_e, proxy_e = (2, 1, 1, 1) if args.quick else (FOLDS, LONG, SHORT, PROXY)
    keys = QUICK_NETWORKS if args.quick else [k for k, _, _ in NETWORKS]
    if args.networks:
        keys = [k for k in keys if k in args.networks.split(",")]
    scheds = {"long": ft.Schedule(epochs=long_e), "short": ft.Schedule(epochs=short_e),
              "proxy": ft.Schedule(epochs=proxy_e, trainable="last")}
    meta = {"folds": folds, "seed": SEED, "size": SIZE, "quick": args.quick,
            "schedules": {k: ft.schedule_dict(s) for k, s in scheds.items()}}
    cache_path = Path(args.cache or ROOT / "results" / ("finetune_cache_quick.json" if args.quick else "finetune_cache.json"))
    cache = Cache(cache_path, meta)
    data = load_data(shared)
    data["zoo_dir"] = zoo
    from bbselect.probes import detection as det

    fold_of = det.fold_assignment(len(data["images"]), folds, SEED, data["pimg"].groups)
    if not args.from_cache:
        phases = [p for p in args.phases.split(",") if p]
        for phase in [p for p in phases if p in scheds]:  # in the order given
            for key in keys:
                _, zname, rnd = next(n for n in NETWORKS if n[0] == key)
                net = {"zoo": zname, "random": rnd, "seed": SEED}
                entry = cache.net(key)
                print(f"{key}: {phase} ({scheds[phase].epochs} epochs)", flush=True)
                finetune_part(net, zoo, data, fold_of, scheds[phase], entry, phase, cache,
                              data_frozen="frozen" in phases)
        cache.save()
    import finetune_report as rep

    result = rep.analyse(cache.data, data, fold_of, keys, args.n_boot)
    print(rep.text_summary(result), flush=True)
    if not args.no_doc and not args.quick:
        rep.write_doc(Path(args.doc), result)
        rep.write_validated(Path(args.validated), result)
        print(f"wrote {args.doc} (finetune block) and {args.validated} ('finetune')", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
