"""Does any score rank backbones ACROSS families, and does it beat the static prior?  (issue 22)

    python studies/validation_zoo.py            # full cross-family study (~40 min on 2 shared cores)
    python studies/validation_zoo.py --quick    # smoke test: 4 networks, 60 images; writes nothing
    python studies/validation_zoo.py --from-json FILE   # redo statistics and the page from saved rows

Configurations (every data set): the six ImageNet networks of ``../shared/weights/zoo`` (MobileNet v1
α0.25, MobileNetV2 α1.0 and α0.35, MobileNetV3-Small, EfficientNet-Lite0, SqueezeNet 1.1) at their two
deepest stages (c4, c5; SqueezeNet fire5 = c3 and fire9 = c4), input 224; the off-task VGG16 (HED edge
detector) at c4, c5; random-init MobileNetV2 α1.0 and MobileNetV3-Small at c4, c5 (seed 0); the cascading
randomisation of MobileNet v1 at c5, k = 1, 4, 8 (``studies/cascade.py``).  Networks are loaded by
``studies/zoo.py`` (one function) and handed to bbselect through ``register_model``.

Data and ground truths: trashnet and magnetic-tile-defects (stretch to 224; linear-probe accuracy,
``bbselect.probes.labels``), raccoon (letterbox 224; detection-probe mAP@0.5, ``bbselect.probes.detection``).
Each ground truth is checked against a second head of another design (``studies/second_heads.py``).

Estimators: neighbourhood stability, augmentation retrieval, effective rank; on raccoon the cheap box
scores (objectness AUROC and gain, ROI-LogME, TLogME); label-aware LogME and kNN; and the static priors
as rows of the same table: ImageNet top-1, parameter count, GFLOPs.  Statistics in
``studies/zoo_stats.py``.  Writes the block between ``<!-- zoo:begin -->`` and ``<!-- zoo:end -->``
of docs/validation.md and the ``zoo`` key of bbselect/scoring/validated.json (everything else kept).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import zoo  # noqa: E402

from bbselect.common import finite  # noqa: E402

LABEL_SETS = ("trashnet", "magnetic-tile-defects")
BOX_SET = "raccoon"
PROBE = {"epochs": 20}  # the box study's schedule (validation_boxes.STUDY_PROBE)
RANDOM_NETS = (("mobilenetv2_1.0", 0), ("mobilenetv3small_1.0", 0))
CASCADE_KS = (1, 4, 8)  # the box study's k = 2 left out: the raccoon probes are the budget
QUICK_NETS = ("mobilenet_v1_0.25", "squeezenet_v1_1", "efficientnet_lite0", "vgg16_hed_edges")


def plan(shared: Path, quick: bool) -> list[dict]:
    """One dict per network to load: id, net (zoo name), family, kind, stages, seed, k, top1 (the
    documented ImageNet top-1 a static prior reads for this architecture; for the ImageNet networks the
    value documented for these very weights)."""

    z = zoo.entries(shared)
    out = []
    for name, e in z.items():
        if quick and name not in QUICK_NETS:
            continue
        kind = "imagenet" if e["role"] == "imagenet" else "off-task"
        top = e["imagenet_top1"] if kind == "imagenet" else zoo.architecture_top1(name)
        out.append({"id": name, "net": name, "family": e["family"], "kind": kind, "stages": zoo.stages_of(name),
                    "seed": None, "k": None, "top1": top})
    for name, seed in RANDOM_NETS[1:] if quick else RANDOM_NETS:
        out.append({"id": f"random_{name}_s{seed}", "net": name, "family": z[name]["family"], "kind": "random",
                    "stages": zoo.stages_of(name), "seed": seed, "k": None, "top1": zoo.architecture_top1(name)})
    for k in ((8,) if quick else CASCADE_KS):
        out.append({"id": f"cascade_k{k}", "net": "mobilenet_v1_0.25", "family": "MobileNet v1", "kind": "cascade",
                    "stages": ("c5",), "seed": None, "k": k, "top1": z["mobilenet_v1_0.25"]["imagenet_top1"]})
    return out


# --------------------------------------------------------------------------
# features
# --------------------------------------------------------------------------

def images_of(data_dir: Path, max_images: int | None):
    from bbselect.inputs.images import discover_images

    refs, _ = discover_images(data_dir)
    if max_images and len(refs) > max_images:
        step = len(refs) / max_images
        refs = [refs[int(i * step)] for i in range(max_images)]
    return refs


def extract(reg: str, n_stages: int, refs, mode: str, keep_maps: bool) -> list[dict]:
    """Per stage: pooled features (gap, gmp) of every image, gap of one augmented view (bbselect's own
    view 0, seed 0), and with ``keep_maps`` the full [h, w, C] maps, content crops and valid sizes."""
    from bbselect.inputs import augment
    from bbselect.inputs import decode as dec
    from bbselect.inputs import images as imgs
    from bbselect.models.registry import get_spec

    spec = get_spec(reg)
    out = [{"gap": [], "gmp": [], "view_gap": [], "feats": [], "crops": [], "valid": [], "rels": []}
           for _ in range(n_stages)]

    def forward(arrays):
        res = spec.model.predict_on_batch(spec.preprocess(np.stack(arrays).astype(np.float32)))
        return [np.asarray(r) for r in (res if isinstance(res, (list, tuple)) else [res])]

    batch = []

    def flush():
        outs, outs_v = forward([b[0] for b in batch]), forward([b[2] for b in batch])
        for s in range(n_stages):
            for i, (_a, v, _va, vv, rel) in enumerate(batch):
                f, fv = outs[s][i], outs_v[s][i]
                r, c = dec.valid_map_region(v, zoo.SIZE, f.shape[:2])
                crop = f[:r, :c].astype(np.float64)
                o = out[s]
                o["gap"].append(crop.mean(axis=(0, 1)))
                o["gmp"].append(crop.max(axis=(0, 1)))
                rv, cv = dec.valid_map_region(vv, zoo.SIZE, fv.shape[:2])
                o["view_gap"].append(np.asarray(fv[:rv, :cv], np.float64).mean(axis=(0, 1)))
                o["rels"].append(rel)
                o["valid"].append(v)
                if keep_maps:
                    o["feats"].append(np.asarray(f, np.float32))
                    o["crops"].append(o["feats"][-1][:r, :c])
        batch.clear()

    for ref in refs:
        img = dec.load_image(ref.path)
        arr, v = dec.fit_to_input(img, zoo.SIZE, mode)
        va, vv = dec.fit_to_input(augment.augmented_view(img, 0, imgs.image_id(ref.rel), 0), zoo.SIZE, mode)
        batch.append((arr, v, va, vv, ref.rel))
        if len(batch) == 16:
            flush()
    if batch:
        flush()
    for o in out:
        for k in ("gap", "gmp", "view_gap"):
            o[k] = np.stack(o[k])
        o["size"] = zoo.SIZE
    return out


# --------------------------------------------------------------------------
# one configuration's row
# --------------------------------------------------------------------------

def label_row(ex: dict, y: np.ndarray) -> dict:
    from bbselect.probes import labels as lab
    from bbselect.probes import logme as lm
    from bbselect.scoring import stability, stats

    import second_heads as sh

    f = ex["gap"]
    probe = lab.probe_scores(f, y, folds=5, seed=0)
    try:
        logme = lm.logme(f, y)
    except (ValueError, np.linalg.LinAlgError):
        logme = math.nan
    st = stability.neighbourhood_stability(f, ex["view_gap"])
    ch = stats.channel_stats(f, ex["gmp"])
    b = sh.linear_b(f, y)
    return {"truth": probe["linear_probe"]["mean"], "truth_lo": probe["linear_probe"]["lo"],
            "truth_hi": probe["linear_probe"]["hi"], "correct": [bool(c) for c in probe["linear_probe"]["correct"]],
            "truth_b": b["acc"], "correct_b": b["correct"], "logme": logme, "knn": probe["knn"]["mean"],
            "stability": st["stability"], "retrieval": st["retrieval"],
            "effective_rank": ch.get("effective_rank", math.nan), "channels": int(f.shape[1])}


N_PAIRED = 200


def replicates(ev) -> list[float]:
    """mAP@0.5 on N_PAIRED fixed resamples of the images (seed 0: the same resamples for every
    configuration, so the difference of two configurations' replicates is a paired image bootstrap,
    as ``cocometrics.paired_bootstrap``; stored in the row, so processes can be merged)."""
    from bbselect.probes import cocometrics

    idx = np.random.default_rng(0).integers(0, ev.n_images, (N_PAIRED, ev.n_images))
    return [cocometrics.resampled(ev.matches, i)[0] for i in idx]


def box_row(data: dict, ex: dict, evals: dict, key: str, with_pos: bool) -> dict:
    """Cheap scores (the box study's, on the same maps) and the two detection heads' mAP@0.5; with
    ``with_pos`` (the ImageNet and off-task networks: the budget) also bbselect's probe with per-position
    normalisation and head B."""
    import second_heads as sh
    import validation_boxes as vb

    from bbselect.probes import cocometrics, detection

    t0 = time.perf_counter()
    row = vb.cheap_scores(data, ex)
    row["seconds"] = {"cheap": time.perf_counter() - t0}
    feats = np.stack(ex["feats"])
    pi = vb.probe_inputs(data, ex)
    norms = (("", "channel"), ("_pos", "position")) if with_pos else (("", "channel"),)
    for tag, norm in norms:
        t0 = time.perf_counter()
        res = detection.run_probe(feats, pi.boxes, pi.classes, len(pi.class_names), ex["size"],
                                  detection.ProbeConfig(seed=0, normalise=norm, **PROBE), groups=pi.groups)
        gt_px = [cocometrics.to_image_pixels(b, g) for b, g in zip(pi.boxes, pi.geoms)]
        gt = cocometrics.coco_ground_truth(gt_px, pi.classes, pi.geoms, pi.class_names)
        ev = cocometrics.evaluate(gt, cocometrics.coco_detections(res.detections, pi.geoms))
        evals[key + tag] = ev
        row["boot" + tag] = replicates(ev)
        bs = cocometrics.bootstrap(ev, n_boot=200, seed=0)
        row[f"truth{tag}"], row[f"truth{tag}_lo"], row[f"truth{tag}_hi"] = bs["map50"], *bs["map50_ci"]
        row["seconds"]["probe" + tag] = time.perf_counter() - t0
    row["truth_b"] = math.nan
    if with_pos:  # head B too: the head comparison is about the trained networks (the budget)
        t0 = time.perf_counter()
        ev = sh.detection_b(feats, pi, ex["size"])
        evals[key + "_b"] = ev
        row["boot_b"] = replicates(ev)
        row["truth_b"] = ev.map50
        row["seconds"]["probe_b"] = time.perf_counter() - t0
    row["channels"] = int(feats.shape[-1])
    row["map_hw"] = list(feats.shape[1:3])
    return row


def measure(cfgs: list[dict], shared: Path, work: Path, max_images: int | None, t0: float,
            partial: Path | None) -> tuple[list[dict], dict]:
    import validation_boxes as vb

    from bbselect.models import runtime

    keras = runtime.keras()
    rows, evals = [], {}
    sets = [(ds, shared / "data" / "labeled" / ds) for ds in LABEL_SETS]
    box = vb.load_box_data(shared / "data" / "boxes" / BOX_SET)
    if max_images:
        keep = {r.rel for r in images_of(box["images_dir"], max_images)}
        box["refs"] = [r for r in box["refs"] if r.rel in keep]
    for cfg in cfgs:
        for ds, data_dir in [*sets, (BOX_SET, None)]:
            try:
                rows += measure_one(cfg, ds, data_dir, box, evals, shared, work, max_images, t0, len(rows))
            except Exception as err:  # noqa: BLE001 - one configuration's failure must not lose the others
                print(f"FAILED {ds} {cfg['id']}: {type(err).__name__}: {err}", flush=True)
            keras.backend.clear_session()
            if partial is not None:
                partial.write_text(json.dumps({"rows": rows}, default=str))
    return rows, evals


def measure_one(cfg, ds, data_dir, box, evals, shared, work, max_images, t0, done) -> list[dict]:
    """The rows of one network (one per stage) on one data set."""
    from bbselect.inputs import labelfiles

    rows = []
    t1 = time.perf_counter()
    cal_dir = data_dir if data_dir is not None else box["images_dir"]
    reg, _, cost = zoo.network(cfg, shared, work, cal_dir)
    refs = images_of(data_dir, max_images) if data_dir is not None else box["refs"]
    exs = extract(reg, len(cfg["stages"]), refs, "stretch" if data_dir is not None else "letterbox",
                  keep_maps=data_dir is None)
    for stage, ex in zip(cfg["stages"], exs):
        base = {"dataset": ds, "config": f"{cfg['id']}@{stage}", "stage": stage, **cost,
                **{k: cfg[k] for k in ("id", "net", "family", "kind", "seed", "k", "top1")},
                "n_images": len(ex["rels"])}
        if data_dir is not None:
            classes = labelfiles.class_folders(data_dir, ex["rels"])
            y = np.asarray([classes[r] for r in ex["rels"]])
            row = {**base, **label_row(ex, y)}
        else:
            row = {**base, **box_row(box, ex, evals, base["config"], cfg["kind"] in ("imagenet", "off-task"))}
        rows.append(row)
        print(f"[{done + len(rows)}] {ds} {row['config']}: truth={row['truth']:.3f} B={row['truth_b']:.3f}"
              + (f" pos={row['truth_pos']:.3f}" if "truth_pos" in row else "")
              + f" stability={row['stability']:.3f}  ({time.perf_counter() - t1:.0f}s, total "
              f"{time.perf_counter() - t0:.0f}s)", flush=True)
    return rows


def tie_sets(rows: list[dict]) -> None:
    """Per data set, scope and head: is each configuration tied with that scope's best under the paired
    test (McNemar on the same images and folds for accuracy; paired image bootstrap of mAP@0.5 from the
    rows' replicates)?  Written into the rows as ``tie_<scope><head>``."""
    from bbselect.scoring.stats import mcnemar

    import zoo_stats as zs

    for ds in {r["dataset"] for r in rows}:
        sub = [r for r in rows if r["dataset"] == ds]
        for scope in ("imagenet", "all"):
            members = [r for r in sub if zs.in_scope(r, scope)]
            for head in ("", "_b", "_pos"):
                key = "truth" + head
                have = [r for r in members if finite(r.get(key))]
                if not have:
                    continue
                best = max(have, key=lambda r: r[key])
                for r in have:
                    if r is best:
                        tied = True
                    elif ds == BOX_SET:
                        d = np.asarray(best["boot" + head]) - np.asarray(r["boot" + head])
                        lo, hi = np.percentile(d, [2.5, 97.5])
                        tied = bool(lo <= 0 <= hi)
                    else:
                        tied = mcnemar(best["correct" + head], r["correct" + head])["tied"]
                    r[f"tie_{scope}{head}"] = bool(tied)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--max-images", type=int, default=None)
    ap.add_argument("--doc", default=str(ROOT / "docs" / "validation.md"))
    ap.add_argument("--validated", default=str(ROOT / "bbselect" / "scoring" / "validated.json"))
    ap.add_argument("--json", default=None, help="save every row and statistic here")
    ap.add_argument("--from-json", default=None)
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--only", default=None, help="comma-separated configuration ids to measure")
    ap.add_argument("--merge", default=None, help="add the rows of an earlier --json run (not re-measured)")
    args = ap.parse_args(argv)
    import zoo_stats as zs

    if args.from_json:  # one file, or several (processes that split the configurations) joined by commas
        saved = [json.loads(Path(f).read_text()) for f in args.from_json.split(",")]
        rows = [r for s in saved for r in s["rows"]]
        tie_sets(rows)
        meta = dict(saved[0]["meta"])
        meta["seconds"] = max(s["meta"]["seconds"] for s in saved)
        meta["processes"] = len(saved)
        zs.render(rows, meta, args)
        return 0
    shared = Path(args.shared)
    work = Path(tempfile.mkdtemp(prefix="bbselect-zoo-"))
    t0 = time.perf_counter()
    max_images = args.max_images or (60 if args.quick else None)
    try:
        cfgs = plan(shared, args.quick)
        if args.only:  # in the order given
            by_id = {c["id"]: c for c in cfgs}
            cfgs = [by_id[i] for i in args.only.split(",")]
        rows, evals = measure(cfgs, shared, work, max_images, t0, Path(args.json + ".partial") if args.json else None)
        if args.merge:  # rows of an earlier run (e.g. configurations that failed there), measured alike
            have = {(r["dataset"], r["config"]) for r in rows}
            rows += [r for r in json.loads(Path(args.merge).read_text())["rows"]
                     if (r["dataset"], r["config"]) not in have]
        try:
            tie_sets(rows)
        except Exception as err:  # noqa: BLE001 - keep the rows; the statistics can be redone from --json
            print(f"tie sets FAILED: {type(err).__name__}: {err}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - t0
    meta = {"command": "python studies/validation_zoo.py" + (" --quick" if args.quick else ""),
            "quick": args.quick, "max_images": max_images, "seconds": seconds, "cores": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version()}
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, default=str))
    zs.render(rows, meta, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
