"""Do bbselect's cheap scores predict transfer?  A validation study on labelled data and on real boxes.

    python studies/validation_study.py            # full study (both parts; must stay under 30 min)
    python studies/validation_study.py --quick    # smoke test: few configurations
    python studies/validation_study.py --part labels|boxes   # one part only

The box part (ground truth: detection-probe mAP@0.5 on ``../shared/data/boxes``) lives in
``studies/validation_boxes.py``; cascading randomisation of the real network (both parts) in
``studies/cascade.py``.  The rest of this docstring describes the labels part.

Ground truth is the measured linear-probe accuracy (logistic regression, 5-fold stratified CV,
``bbselect.probes.labels.probe_scores``) on the pooled features (``gap``, global average pool) of the
chosen layer.  For every configuration (backbone × weights × stage × input size) the study runs
``bbselect.runs.pipeline.compare`` on a labelled folder (class sub-folders) and collects

* the label-free scores of the summary: ``separation``, ``max``/``mean`` × ``otsu`` /
  ``top10_mass`` / ``concentration`` (means over images), ``effective_rank`` and ``dead_fraction``
  of the pooled channels;
* the label-aware scores on the same pooled features: LogME, kNN accuracy, linear-probe accuracy.

Per data set it reports Kendall's tau (``scipy.stats.kendalltau``, tau-b, on the configurations
where the score is finite) between each score and probe accuracy, and the share of (pretrained,
random-init) configuration pairs in which the score puts the pretrained one above the random one.

Configurations (full study), on both ``trashnet`` and ``magnetic-tile-defects``:

* real ImageNet MobileNet v1 (alpha 0.25, the file in ``../shared/weights/keras``), stages c3, c4,
  c5, input 128 and 224  (6);
* the same MobileNet with random weights (``--weights none``), seeds 0, 1, 2, same stages and
  sizes (18);
* random-init ResNet50 and MobileNetV2 at c4 and c5, input 128, seed 0 (4);
* cascading randomisation of the real MobileNet (``studies/cascade.py``; Adebayo et al. 2018):
  its last k blocks up to the tapped layer re-initialised, k = 1, 2, 4, 8, at c5, input 224 (4).

Data and weights come from ``../shared`` beside the repo (``--shared`` to point elsewhere).  Maps go
to a temporary folder (deleted at the end unless ``--keep``); the bbselect cache is turned off and
``BBSELECT_CACHE`` is pointed at that folder, so the user's cache is never touched.  Writes
``docs/validation.md`` and ``docs/img/validation_tau.png`` (``--doc`` / ``--figure`` to change,
``--no-doc`` to only print).
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

# One BLAS thread.  With several processes on 2 cores a multi-threaded BLAS spins: a 434 x 128 SVD
# took 3.3 s instead of 0.017 s (measured).  Set before numpy is first imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's bbselect, installed or not
# imported after the BLAS settings above, like every import below
from validation_boxes import fmt_fixed, fmt_p  # the script beside this one

from bbselect.common import finite
from bbselect.models.device import cpu_name
from bbselect.scoring import validated

WEIGHTS_FILE = "weights/keras/mobilenet_2_5_224_tf_no_top.h5"
DATASETS = ("trashnet", "magnetic-tile-defects")
BOX_DATASETS = ("raccoon", "coco128")
CASCADE_KS = (1, 2, 4, 8)

# (key, heading); the direction bbselect calls better comes from its score registry (``direction``)
SCORES = [
    ("separation", "separation"),
    ("max.otsu", "max.otsu"),
    ("max.top10_mass", "max.top10_mass"),
    ("max.concentration", "max.concentration"),
    ("mean.otsu", "mean.otsu"),
    ("mean.top10_mass", "mean.top10_mass"),
    ("mean.concentration", "mean.concentration"),
    ("stability", "neighbourhood stability"),
    ("retrieval", "augmentation retrieval"),
    ("effective_rank", "effective_rank"),
    ("dead_fraction", "dead_fraction (↓)"),
    ("logme", "LogME"),
    ("knn", "kNN acc."),
]
REGISTRY_NAME = {"retrieval": "augmentation_retrieval", "map_auroc": "box_auroc"}
LABEL_FREE = [k for k, _ in SCORES if k not in ("logme", "knn")]
HEADING = dict(SCORES)


def direction(key: str) -> int:
    """+1 when bbselect treats a higher value as better, -1 when lower: read from the score registry
    (``max.otsu`` -> ``otsu``; study names that differ -> ``REGISTRY_NAME``).  Study-only scores that
    bbselect does not register (pooled LogME of the box study) count as higher-is-better."""
    from bbselect.errors import UsageError
    from bbselect.scoring import registry

    try:
        spec = registry.get(REGISTRY_NAME.get(key, key.rpartition(".")[2]))
    except UsageError:
        return 1
    return 1 if spec.higher_is_better else -1


DIRECTION = {k: direction(k) for k, _ in SCORES}


# --------------------------------------------------------------------------
# configurations
# --------------------------------------------------------------------------

def plan(quick: bool, weights_file: str) -> list[dict]:
    """Groups of backbones that share one ``compare`` call (same weights, seed and input size)."""
    mob = "mobilenet:alpha=0.25"
    stages = ("c3", "c4", "c5")
    sizes = (128,) if quick else (128, 224)
    seeds = (0,) if quick else (0, 1, 2)
    groups = []
    for size in sizes:
        groups.append({"kind": "real", "weights": weights_file, "seed": 0, "size": size,
                       "backbones": [f"{mob},layer={s}" for s in stages]})
    for seed in seeds:
        for size in sizes:
            groups.append({"kind": "random", "weights": "none", "seed": seed, "size": size,
                           "backbones": [f"{mob},layer={s}" for s in stages]})
    if not quick:
        groups.append({"kind": "random", "weights": "none", "seed": 0, "size": 128,
                       "backbones": [f"{n}:layer={s}" for n in ("resnet50", "mobilenetv2")
                                     for s in ("c4", "c5")]})
    groups += cascade_groups(quick, weights_file)
    return groups


def cascade_groups(quick: bool, weights_file: str) -> list[dict]:
    """Cascading randomisation of the real MobileNet: k blocks up to the tapped layer re-initialised."""
    mob = "mobilenet:alpha=0.25"
    return [{"kind": "cascade", "weights": None, "base": weights_file, "cascade": (s, k), "seed": 0,
             "size": 224, "backbones": [f"{mob},layer={s}"]}
            for s in ("c5",) for k in ((8,) if quick else CASCADE_KS)]


def cascade_file(data_dir: Path, stage: str, k: int, base: str, work: Path, size: int = 224) -> str:
    """The cascaded weights for one data set (batch-norm statistics from its own images), made once."""
    from cascade import STAGE_BLOCK, calibration_batch, cascade_weights

    from bbselect.inputs.images import discover_images

    out = work / "cascade" / f"{data_dir.name}-{stage}-k{k}.weights.h5"
    if not out.exists():
        refs, _ = discover_images(data_dir)
        cal = calibration_batch([r.path for r in refs], size)
        cascade_weights(base, 0.25, STAGE_BLOCK[stage], k, cal, seed=0, out=out, input_size=size)
    return str(out)


# --------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------

def _get(d: dict, *path, default=math.nan):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d if d is not None else default


def measure_group(data_dir: Path, group: dict, work: Path, tag: str) -> list[dict]:
    import numpy as np

    from bbselect.config.schema import CompareConfig
    from bbselect.inputs import labelfiles
    from bbselect.probes import labels as lab
    from bbselect.probes import logme as lm
    from bbselect.runs.pipeline import compare

    weights = group["weights"]
    if group["kind"] == "cascade":
        weights = cascade_file(data_dir, *group["cascade"], group["base"], work)
    cfg = CompareConfig(
        images=str(data_dir), backbones=list(group["backbones"]), weights=weights,
        input_size=group["size"], seed=group["seed"], figures="none", output=str(work / "runs"),
        name=tag, cache=False, cache_dir=str(work / "cache"), labels="none", boxes="none",
    )
    outcome = compare(cfg, quiet=True)
    manifest = json.loads((outcome.run_dir / "run.json").read_text())
    maps_dir = {b["label"]: b["maps_dir"] for b in manifest["backbones"]}
    rels = [im["rel"] for im in manifest["images"]]
    classes = labelfiles.class_folders(data_dir, rels)
    if classes is None:
        raise SystemExit(f"{data_dir}: expected one sub-folder per class")
    rows = []
    for b in outcome.summary["backbones"]:
        feats, ys = [], []
        for im in manifest["images"]:
            path = outcome.run_dir / maps_dir[b["label"]] / f"{im['id']}.npz"
            if not path.exists():
                continue
            with np.load(path) as z:
                feats.append(np.asarray(z["gap"], dtype=np.float64).ravel())
            ys.append(classes[im["rel"]])
        f, y = np.stack(feats), np.asarray(ys)
        probe = lab.probe_scores(f, y, folds=5, seed=0)
        try:
            logme = lm.logme(f, y)
        except (ValueError, np.linalg.LinAlgError):
            logme = math.nan
        name = b["label"].split(":")[0]
        row = {
            "dataset": data_dir.name, "kind": group["kind"], "backbone": name,
            "label": b["label"], "stage": b.get("stage"), "layer": b.get("layer"),
            "size": group["size"], "seed": group["seed"] if group["kind"] == "random" else None,
            "k": group["cascade"][1] if group["kind"] == "cascade" else None,
            "n_images": int(f.shape[0]), "channels": int(f.shape[1]),
            "separation": _get(b, "separation", "mean"),
            "effective_rank": _get(b, "channels_stats", "effective_rank"),
            "dead_fraction": _get(b, "channels_stats", "dead_fraction"),
            "logme": logme,
            "knn": probe["knn"]["mean"],
            "probe": probe["linear_probe"]["mean"],
            "probe_lo": probe["linear_probe"]["lo"], "probe_hi": probe["linear_probe"]["hi"],
        }
        row.update(stability_columns(b))
        for m in ("max", "mean"):
            for s in ("otsu", "top10_mass", "concentration"):
                row[f"{m}.{s}"] = _get(b, "scores", m, s, "mean")
                row[f"{m}.{s}.n_missing"] = _get(b, "scores", m, s, "n_missing", default=None)
        rows.append(row)
    shutil.rmtree(outcome.run_dir, ignore_errors=True)  # maps are no longer needed
    return rows


def stability_columns(b: dict) -> dict:
    """Neighbourhood stability and augmentation retrieval of one backbone (the runs are label-free, so
    ``--stability auto`` makes one augmented view per image, seed 0, k = 10)."""
    return {"stability": _get(b, "stability", "mean"), "retrieval": _get(b, "stability", "retrieval", "mean")}


# --------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------

def kendall(rows: list[dict], key: str, nan_last: bool = False, truth: str = "probe",
            direction: int | None = None) -> dict:
    """tau-b between the score (oriented so that higher = claimed better) and the ground truth
    (``truth``: probe accuracy, or the box part's detection mAP).

    Default: over the configurations where the score is finite.  ``nan_last``: over all of them,
    a NaN score ranked below every finite one (tied with other NaNs), as bbselect's ranking does."""
    from scipy.stats import kendalltau

    low = -1e300
    d = DIRECTION.get(key, 1) if direction is None else direction
    pairs = [(d * r[key] if finite(r.get(key)) else low, r[truth]) for r in rows
             if (nan_last or finite(r.get(key))) and finite(r.get(truth))]
    n = len(pairs)
    if n < 3 or len({a for a, _ in pairs}) < 2:
        return {"tau": math.nan, "p": math.nan, "n": n}
    res = kendalltau([a for a, _ in pairs], [b for _, b in pairs])
    return {"tau": float(res.statistic if hasattr(res, "statistic") else res[0]),
            "p": float(res.pvalue if hasattr(res, "pvalue") else res[1]), "n": n}


def above(real: float, rand: float, direction: int) -> float:
    """1 if the score ranks the real config above the random one, 0.5 on a tie, else 0.

    NaN is ranked last (as bbselect's own ranking does): a NaN real score never counts as above;
    a finite real score is above a NaN random score; two NaNs count 0 (not above)."""
    if not finite(real):
        return 0.0
    if not finite(rand):
        return 1.0
    a, b = direction * real, direction * rand
    return 1.0 if a > b else 0.5 if a == b else 0.0


def real_vs_random(rows: list[dict], key: str) -> dict:
    d = DIRECTION.get(key, 1)
    real = [r for r in rows if r["kind"] == "real"]
    rand = [r for r in rows if r["kind"] == "random"]
    allp = [above(a[key], b[key], d) for a in real for b in rand]
    matched = [above(a[key], b[key], d) for a in real for b in rand
               if b["backbone"] == a["backbone"] and b["stage"] == a["stage"] and b["size"] == a["size"]]
    return {"all": sum(allp) / len(allp) if allp else math.nan, "n_all": len(allp),
            "matched": sum(matched) / len(matched) if matched else math.nan, "n_matched": len(matched)}


def real_vs_cascade(rows: list[dict], key: str) -> dict:
    """Share of (pretrained, cascade-randomised) pairs of the same stage and size ordered pretrained first."""
    d = DIRECTION.get(key, 1)
    pairs = [above(a[key], b[key], d) for a in rows if a["kind"] == "real" for b in rows
             if b["kind"] == "cascade" and b["stage"] == a["stage"] and b["size"] == a["size"]]
    return {"share": sum(pairs) / len(pairs) if pairs else math.nan, "n": len(pairs)}


def analyse(rows: list[dict]) -> dict:
    out = {}
    for ds in sorted({r["dataset"] for r in rows}, key=lambda d: DATASETS.index(d) if d in DATASETS else 9):
        sub = [r for r in rows if r["dataset"] == ds]
        real = [r for r in sub if r["kind"] == "real"]
        keys = [k for k, _ in SCORES] + ["probe"]
        out[ds] = {
            "n_configs": len(sub),
            "tau": {k: kendall(sub, k) for k, _ in SCORES},
            "tau_nan_last": {k: kendall(sub, k, nan_last=True) for k, _ in SCORES},
            "tau_real": {k: kendall(real, k) for k, _ in SCORES},
            "tau_nonrandom": {k: kendall([r for r in sub if r["kind"] != "random"], k) for k, _ in SCORES},
            "rvr": {k: real_vs_random(sub, k) for k in keys},
            "rvc": {k: real_vs_cascade(sub, k) for k in keys},
        }
    return out


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------

def _f(v, nd=3) -> str:
    return fmt_fixed(v, nd)


def tau_table(res: dict, ds: str) -> str:
    t, tn, tr, rvr = res[ds]["tau"], res[ds]["tau_nan_last"], res[ds]["tau_real"], res[ds]["rvr"]
    tnr, rvc = res[ds]["tau_nonrandom"], res[ds]["rvc"]
    lines = ["| score | τ vs probe | p | n | τ, NaN ranked last | p | n | τ (pretrained only) | n "
             "| τ (non-random: pretrained + cascade) | p | n "
             "| real > random (all pairs) | real > random (same backbone, stage, size) "
             "| real > cascade (same stage, size) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for k, h in SCORES:
        lines.append(f"| {h} | **{_f(t[k]['tau'], 2)}** | {fmt_p(t[k]['p'])} | {t[k]['n']} | "
                     f"{_f(tn[k]['tau'], 2)} | {fmt_p(tn[k]['p'])} | {tn[k]['n']} | "
                     f"{_f(tr[k]['tau'], 2)} | {tr[k]['n']} | "
                     f"{_f(tnr[k]['tau'], 2)} | {fmt_p(tnr[k]['p'])} | {tnr[k]['n']} | "
                     f"{_f(rvr[k]['all'], 2)} | {_f(rvr[k]['matched'], 2)} | {_f(rvc[k]['share'], 2)} |")
    k = "probe"
    lines.append(f"| *probe acc. (reference)* | 1 | – | – | 1 | – | – | 1 | – | 1 | – | – | {_f(rvr[k]['all'], 2)} "
                 f"| {_f(rvr[k]['matched'], 2)} | {_f(rvc[k]['share'], 2)} |")
    return "\n".join(lines)


def rows_table(rows: list[dict], ds: str) -> str:
    cols = ["probe", "knn", "logme", "separation", "stability", "retrieval", "max.otsu", "mean.otsu", "mean.top10_mass",
            "mean.concentration", "effective_rank", "dead_fraction"]
    lines = ["| config | size | seed | probe acc. [95% CI] | " + " | ".join(cols[1:])
             + " | images with a scorable max / mean map |",
             "|---|---:|---:|---|" + "---:|" * (len(cols) - 1) + "---:|"]
    sub = sorted((r for r in rows if r["dataset"] == ds), key=lambda r: -r["probe"] if finite(r["probe"]) else 9)
    for r in sub:
        arch = {"mobilenet": "MobileNet α0.25", "resnet50": "ResNet50", "mobilenetv2": "MobileNetV2"}.get(
            r["backbone"], r["backbone"])
        name = {"real": "**pretrained** ", "cascade": f"cascade k={r.get('k')} "}.get(r["kind"], "random ") \
            + f"{arch} {r['stage']}"
        cover = " / ".join(
            "?" if r.get(f"{m}.otsu.n_missing") is None else str(r["n_images"] - r[f"{m}.otsu.n_missing"])
            for m in ("max", "mean"))
        probe = f"{_f(r['probe'])} [{_f(r['probe_lo'], 2)}, {_f(r['probe_hi'], 2)}]"
        vals = [_f(r[c], 1 if c == "effective_rank" else 3) for c in cols[1:]]
        lines.append(f"| {name} | {r['size']} | {'' if r['seed'] is None else r['seed']} | {probe} | "
                     + " | ".join(vals) + f" | {cover} of {r['n_images']} |")
    return "\n".join(lines)


def print_tables(res: dict) -> None:
    for ds in res:
        print(f"\n== {ds}: {res[ds]['n_configs']} configurations ==")
        print(f"{'score':22s} {'tau':>6s} {'p':>8s} {'n':>3s} {'tauNaN':>6s} {'p':>8s} {'n':>3s} "
              f"{'tau_real':>8s} {'tau_nr':>6s} {'p':>8s} {'real>rand':>9s} {'matched':>8s} {'>casc':>6s}")
        for k, h in SCORES:
            t, tn, tr, tnr, rv, rc = (res[ds][x][k] for x in
                                      ("tau", "tau_nan_last", "tau_real", "tau_nonrandom", "rvr", "rvc"))
            print(f"{h:22s} {_f(t['tau'], 2):>6s} {fmt_p(t['p']):>8s} {t['n']:>3d} {_f(tn['tau'], 2):>6s} "
                  f"{fmt_p(tn['p']):>8s} {tn['n']:>3d} {_f(tr['tau'], 2):>8s} {_f(tnr['tau'], 2):>6s} "
                  f"{fmt_p(tnr['p']):>8s} {_f(rv['all'], 2):>9s} {_f(rv['matched'], 2):>8s} {_f(rc['share'], 2):>6s}")
        rv, rc = res[ds]["rvr"]["probe"], res[ds]["rvc"]["probe"]
        print(f"{'(probe acc.)':22s} {'':>6s} {'':>8s} {'':>3s} {'':>6s} {'':>8s} {'':>3s} {'':>8s} {'':>6s} "
              f"{'':>8s} {_f(rv['all'], 2):>9s} {_f(rv['matched'], 2):>8s} {_f(rc['share'], 2):>6s}")


def figure(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    keys = [k for k, _ in SCORES]
    dss = list(res)
    x = np.arange(len(keys))
    w = 0.8 / max(1, len(dss))
    fig, axes = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True)
    colors = ["#3b6fb6", "#d9822b", "#4a9a5b"]
    for i, ds in enumerate(dss):
        taus = [res[ds]["tau"][k]["tau"] for k in keys]
        ps = [res[ds]["tau"][k]["p"] for k in keys]
        xs = x + (i - (len(dss) - 1) / 2) * w
        vals = [t if finite(t) else 0.0 for t in taus]
        axes[0].bar(xs, vals, w, color=colors[i % 3], label=f"{ds} (n = {res[ds]['n_configs']})")
        for xi, k, t, p in zip(xs, keys, taus, ps):
            n = res[ds]["tau"][k]["n"]
            if not finite(t):
                axes[0].text(xi, 0.02, f"NaN (n={n})", ha="center", va="bottom", fontsize=7, rotation=90)
            else:
                star = "*" if finite(p) and p < 0.05 else ""
                up = t >= 0
                axes[0].text(xi, t + (0.02 if up else -0.02), f"{star}\n{n}" if up else f"{n}\n{star}",
                             ha="center", va="bottom" if up else "top", fontsize=7)
        fr = [res[ds]["rvr"][k]["all"] for k in keys]
        axes[1].bar(xs, [v if finite(v) else 0.0 for v in fr], w, color=colors[i % 3])
    axes[0].axhline(0, color="k", lw=0.8)
    axes[0].set_ylim(-1, 1.2)
    axes[0].set_ylabel("Kendall τ with linear-probe acc.")
    axes[0].set_title("Does the score rank configurations like probe accuracy does?  (* p < 0.05; number = "
                      "configurations with a finite score; dead_fraction sign-flipped)", fontsize=9)
    axes[0].legend(fontsize=9, loc="lower left")
    axes[0].axvspan(len(LABEL_FREE) - 0.5, len(keys) - 0.5, color="0.92", zorder=-1)
    axes[0].text(len(LABEL_FREE) + 0.5, -0.92, "label-aware", ha="center", fontsize=9, color="0.3")
    axes[1].axhline(0.5, color="k", lw=0.8, ls="--")
    axes[1].axvspan(len(LABEL_FREE) - 0.5, len(keys) - 0.5, color="0.92", zorder=-1)
    axes[1].set_ylim(0, 1)
    axes[1].set_ylabel("share of (pretrained, random)\npairs ranked pretrained-first")
    axes[1].set_xticks(x)
    axes[1].set_xticklabels([HEADING[k] for k in keys], rotation=30, ha="right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _sig_pos(res: dict, ds: str, k: str, which: str = "tau") -> bool:
    return validated.predicts(res[ds][which][k])


def _sig_neg(res: dict, ds: str, k: str) -> bool:
    return validated.inverted(res[ds]["tau"][k])


def _separates(res: dict, ds: str, k: str) -> bool:
    return validated.separates(res[ds]["rvr"][k]["all"])


def supported(res: dict, k: str) -> bool:
    """The study's rule: on every data set, tau > 0 with p < 0.05 (finite configurations) AND the
    score puts pretrained above random-init in >= 80 % of pairs.  A score that cannot even tell a
    pretrained network from a random one is not called a predictor of transfer, whatever its tau."""
    return all(_sig_pos(res, ds, k) and _separates(res, ds, k) for ds in res)


def verdict(res: dict) -> list[str]:
    out = []
    dss = list(res)
    for k, h in SCORES:
        pred = [ds for ds in dss if _sig_pos(res, ds, k)]
        sep = [ds for ds in dss if _separates(res, ds, k)]
        neg = [ds for ds in dss if _sig_neg(res, ds, k)]
        if supported(res, k):
            word = "**supported** on both data sets"
        elif pred or sep:
            why = []
            if len(pred) < len(dss):
                why.append(("τ > 0 with p < 0.05 only on " + ", ".join(pred)) if pred
                           else "τ > 0 with p < 0.05 on neither data set")
            if len(sep) < len(dss):
                why.append(("pretrained ranked first in ≥ 80 % of pairs only on " + ", ".join(sep)) if sep
                           else "pretrained ranked first in ≥ 80 % of pairs on neither data set")
            word = "**not supported** (" + "; ".join(why) + ")"
        else:
            word = "**not supported**"
        if neg:
            word += f"; significantly *inverted* (higher score = worse probe) on {', '.join(neg)}"
        taus = ", ".join(f"{ds} τ = {_f(res[ds]['tau'][k]['tau'], 2)} (p {fmt_p(res[ds]['tau'][k]['p'])}, "
                         f"n = {res[ds]['tau'][k]['n']})" for ds in dss)
        rv = ", ".join(f"{ds} {_f(res[ds]['rvr'][k]['all'], 2)}" for ds in dss)
        tr = ", ".join(f"{ds} {_f(res[ds]['tau_real'][k]['tau'], 2)}" for ds in dss)
        out.append(f"- `{h}` — {word}. {taus}. Pretrained ranked above random in {rv} of pairs. "
                   f"Pretrained-only τ: {tr}.")
    return out


def stability_verdict(res: dict) -> str:
    """What the label-free verdict may rest on: neighbourhood stability, if this study supports it (the
    tool ranks by it only while ``validated.json`` says so, and quotes its non-random τ)."""
    taus = "; ".join(f"{ds} τ = {_f(res[ds]['tau']['stability']['tau'], 2)} (p {fmt_p(res[ds]['tau']['stability']['p'])}) "
                     f"over all configurations, {_f(res[ds]['tau_nonrandom']['stability']['tau'], 2)} "
                     f"(p {fmt_p(res[ds]['tau_nonrandom']['stability']['p'])}) over pretrained + cascade (the τ the "
                     f"verdict quotes), {_f(res[ds]['tau_real']['stability']['tau'], 2)} over pretrained only"
                     for ds in res)
    if supported(res, "stability"):
        return ("**Label-free verdict: neighbourhood stability is supported** by the rule above, so bbselect "
                f"ranks by it when there are no labels and no boxes: {taus}.")
    return ("**Label-free verdict: neighbourhood stability is NOT supported** by the rule above on these "
            f"runs ({taus}), so `validated.json` says so and a label-free ranking is marked UNVALIDATED.")


def finer(rows: list[dict], res: dict) -> list[str]:
    """Data-driven caveats: what the 'all configurations' tau is made of."""
    out = []
    real = [r for r in rows if r["kind"] == "real"]
    n_real = len(real) // max(1, len(res))
    # 1. the question a user with only pretrained candidates has
    def best(keys):
        return ", ".join(f"`{HEADING[k]}` " + "/".join(_f(res[ds]["tau_real"][k]["tau"], 2) for ds in res)
                         for k in keys)
    out.append(
        f"**Choosing among pretrained candidates** (the tool's real use) is a finer question than "
        f"pretrained vs random. Over the {n_real} pretrained configurations only (τ per data set, "
        f"{' / '.join(res)}; n = {n_real}, so none of these is statistically meaningful): "
        + best(LABEL_FREE) + "; label-aware " + best(["logme", "knn"]) + ".")
    # 2. dead_fraction / effective_rank mostly detect dead networks
    dead_real = sorted({r["dead_fraction"] for r in real if finite(r["dead_fraction"])})
    dead_rand = [r for r in rows if r["kind"] == "random" and finite(r["dead_fraction"]) and r["dead_fraction"] >= 0.99]
    n_rand = sum(1 for r in rows if r["kind"] == "random")
    out += ["", f"`dead_fraction` takes only the values {', '.join(_f(v, 3) for v in dead_real)} on the pretrained "
            f"configurations, while {len(dead_rand)} of {n_rand} random-init configurations have every pooled "
            "channel dead (≥ 0.99; their maps are constant, so every map score is NaN for them). Its τ, and "
            "much of `effective_rank`'s, measures *\"is this network dead?\"* — useful as a sanity gate, "
            "not evidence for choosing between healthy pretrained backbones."]
    # 3. coverage of max-map scores on pretrained configs
    cov = [r["n_images"] - r["max.otsu.n_missing"] for r in real
           if r.get("max.otsu.n_missing") is not None and finite(r["max.otsu"])]
    if cov:
        out += ["", f"The `max`-map scores exist for {len(cov)} of {len(real)} pretrained configurations, and "
                f"there they rest on a median of {sorted(cov)[len(cov) // 2]} scorable images out of ≈ 240 "
                "(MobileNet's channel-max map is saturated at the ReLU6 ceiling almost everywhere). Their τ "
                "values are therefore not a usable signal on this backbone, whatever their sign."]
    return out


def write_doc(path: Path, fig_path: Path, rows: list[dict], res: dict, meta: dict,
              box_parts: list[str] | None = None) -> None:
    rel_fig = os.path.relpath(fig_path, path.parent)
    lf_pred = [k for k in LABEL_FREE if supported(res, k)]
    lf_neg = [k for k in LABEL_FREE if any(_sig_neg(res, ds, k) for ds in res)]
    lf_pred_nan = [k for k in LABEL_FREE if all(
        finite(res[ds]["tau_nan_last"][k]["tau"]) and res[ds]["tau_nan_last"][k]["tau"] > 0
        and res[ds]["tau_nan_last"][k]["p"] < 0.05 for ds in res)]
    la_pred = [k for k in ("logme", "knn") if supported(res, k)]
    nan_max = {ds: sum(1 for r in rows if r["dataset"] == ds and not finite(r["max.otsu"])) for ds in res}
    parts = [
        "# Validation: do bbselect's cheap scores predict transfer?",
        "",
        "*Generated by `studies/validation_study.py`; re-running it overwrites this page.*",
        "",
        "bbselect ranks backbones with **label-free** scores computed from feature maps (how cleanly the",
        "channel-collapsed map separates a region from background, and channel statistics). This study",
        "checks whether those scores track what a user actually wants: how well the features **transfer**",
        "to a labelled task. Ground truth is the **linear-probe accuracy** (logistic regression on",
        "standardised global-average-pooled features of the chosen layer, 5-fold stratified CV,",
        "`bbselect.probes.labels.probe_scores`).",
        "",
        "## What was run",
        "",
        "```",
        meta["command"],
        "```",
        "",
        f"- Machine: {meta['cores']} CPU cores ({meta['cpu']}), {meta['platform']}; Python {meta['python']}, "
        f"TensorFlow {meta['versions'].get('tensorflow')}, Keras {meta['versions'].get('keras')}.",
        f"- **Total run time: {meta['seconds'] / 60:.1f} min** ({meta['seconds']:.0f} s wall, models, maps, "
        f"scores and probes included){' — `--quick` smoke test, NOT the full study' if meta['quick'] else ''}.",
        f"- Data: `../shared/data/labeled/trashnet` (6 classes × 40 photos, object-centric) and "
        f"`../shared/data/labeled/magnetic-tile-defects` (6 classes, 32–40 grayscale texture crops each); "
        f"{', '.join(f'{ds}: {n} configurations' for ds, n in ((d, res[d]['n_configs']) for d in res))}.",
        "- Configurations per data set:",
        "  - **pretrained**: MobileNet v1 α = 0.25 with the real ImageNet weights "
        "(`../shared/weights/keras/mobilenet_2_5_224_tf_no_top.h5`), stages c3, c4, c5 × input "
        + ("128" if meta["quick"] else "128 and 224") + ";",
        "  - **random-init controls**: the same MobileNet with `--weights none`, seeds "
        + ("0" if meta["quick"] else "0, 1, 2") + ", same stages and sizes"
        + ("" if meta["quick"] else "; plus random-init ResNet50 and MobileNetV2 at c4 and c5, input 128, seed 0") + ";",
        "  - **cascading randomisation** (Adebayo et al. 2018, \"Sanity checks for saliency maps\"): the "
        "pretrained MobileNet with its last k blocks up to the tapped layer re-initialised, k = "
        + ("8" if meta["quick"] else "1, 2, 4, 8") + ", at c5, input 224 (`studies/cascade.py`: "
        "fresh Glorot kernels; batch-norm statistics re-estimated on 32 of the data set's images, so the "
        "family is graded between pretrained and random instead of dead). Its weights are saved to a file "
        "and passed like `--weights PATH`.",
        "- Scores: everything label-free in `scores.json` (`separation`; `max`/`mean` map × `otsu`, "
        "`top10_mass`, `concentration`, mean over images; `effective_rank`, `dead_fraction` of the pooled "
        "channels), and label-aware LogME and kNN accuracy (`bbselect.probes.labels`) on the same pooled features.",
        "- **Kendall τ** (`scipy.stats.kendalltau`, τ-b) between each score and probe accuracy across the "
        "configurations of one data set, on those where the score is finite (n says how many). Every score "
        "is oriented so that the direction bbselect treats as better is positive: `dead_fraction` is "
        "negated (lower = better), so **τ > 0 always means \"agrees with transfer\"**.",
        "- **τ, NaN ranked last**: the same over all configurations, a NaN score placed below every finite "
        "one (NaNs tied), which is how bbselect's own ranking treats NaN. This credits a score for "
        "refusing to score a dead network.",
        "  The p-values assume independent configurations; stages of one network and seeds of one "
        "architecture are not independent, so read them as optimistic.",
        "- **τ (non-random)**: over the pretrained and cascade configurations (the random-init controls left "
        "out), so τ measures more than \"is this network alive?\"; **real > cascade**: share of (pretrained, "
        "cascade) pairs of the same stage and size ordered pretrained first.",
        "- **τ (pretrained only)**: the same over the pretrained configurations alone "
        f"(n = {sum(1 for r in rows if r['kind'] == 'real') // max(1, len(res))}): the question a user "
        "with only pretrained candidates faces. With so few points it is descriptive only.",
        "- **real > random**: share of (pretrained, random-init) configuration pairs in which the score "
        "ranks the pretrained one above the random one — over all pairs, and over pairs with the same "
        "backbone, stage and input size. Ties count 0.5. A NaN score is ranked last, as bbselect's ranking "
        "does: a NaN pretrained score never counts as above; a finite pretrained score counts as above "
        "a NaN random one; two NaNs count 0.",
        "",
    ]
    for ds in res:
        parts += [f"## {ds}", "", tau_table(res, ds), ""]
    parts += [
        f"![Kendall τ per score and data set]({rel_fig})",
        "",
        "*Top: τ with probe accuracy (* = p < 0.05). Bottom: share of (pretrained, random) pairs "
        "ranked pretrained-first (0.5 = coin flip). Grey band: label-aware scores, for reference.*",
        "",
        "## Verdict",
        "",
    ]
    parts.append("Rule: a score is *supported* as a predictor of transfer when, on **both** data sets, its τ with "
                 "probe accuracy is > 0 with p < 0.05 **and** it ranks the pretrained network above the "
                 "random-init ones in ≥ 80 % of pairs (a score that cannot tell pretrained from random is "
                 "not called a transfer predictor, whatever its τ on a subset).")
    parts.append("")
    if lf_pred:
        parts.append("Label-free scores the study **supports** on these data: "
                     + ", ".join(f"`{HEADING[k]}`" for k in lf_pred) + ". Not supported: "
                     + ", ".join(f"`{HEADING[k]}`" for k in LABEL_FREE if k not in lf_pred) + ".")
    else:
        parts.append("**No label-free score is supported** as a predictor of probe accuracy on both data sets.")
    parts += ["", stability_verdict(res)]
    if "separation" not in lf_pred:
        parts += ["", "**In short: `separation` and the individual map scores are not supported as predictors "
                  "of transfer by this study" + ("; neighbourhood stability is, and a label-free verdict rests on "
                  "it" if "stability" in lf_pred else "") + ". When labels exist, LogME / kNN (and the linear "
                  "probe itself) are the stronger evidence.**"
                  if la_pred else
                  "**In short: bbselect's primary label-free ranking score, `separation`, is not supported "
                  "as a predictor of transfer by this study.**"]
    parts += ["", *finer(rows, res)]
    if lf_neg:
        parts.append("")
        parts.append("Label-free scores that are significantly **inverted** (higher score, worse transfer) on at "
                     "least one data set: " + ", ".join(f"`{HEADING[k]}`" for k in lf_neg)
                     + ". Ranking backbones by them would, on those data, tend to pick the worse ones.")
    parts += [
        "",
        "Label-aware scores on the same features: "
        + (", ".join(f"`{HEADING[k]}`" for k in la_pred) + " track(s) probe accuracy on both data sets"
           if la_pred else "neither LogME nor kNN tracks probe accuracy with p < 0.05 on both data sets")
        + " (they see the labels' images through the same pooled features, so they are the natural "
        "yardstick for what a label-free score could reach).",
        "",
        "Counting a NaN as the worst score (how bbselect ranks), label-free scores with τ > 0 and p < 0.05 "
        "on both data sets: "
        + (", ".join(f"`{HEADING[k]}`" for k in lf_pred_nan) if lf_pred_nan else "none")
        + ". Where this differs from the finite-only verdict, the credit comes from the score being NaN "
        "on dead random networks, not from its values.",
        "",
        "Per score:",
        "",
        *verdict(res),
        "",
        "Notes:",
        "",
        "- The `max`-map scores are NaN for "
        + ", ".join(f"{n} of {res[ds]['n_configs']} configurations on {ds}" for ds, n in nan_max.items())
        + ": "
        "MobileNet's channel-max map saturates at the ReLU6 ceiling (constant map → degenerate → NaN by "
        "design). Where some images are scorable, the mean is over those only — sometimes a handful of "
        "240 (last column of the per-configuration tables). τ uses only configurations with a finite "
        "mean; `separation` averages whichever "
        "scores are finite, so its mix of ingredients changes between configurations.",
        "- Probe accuracies come with 95 % Wilson intervals about ±0.06 wide (≈ 240 images); "
        "configurations closer than that are not reliably ordered by the ground truth either.",
        "- Scope: one pretrained architecture (the only real weights available offline), two small data "
        "sets, CPU only. The random-init controls make the pretrained-vs-random contrast the dominant "
        "source of variation in the \"all\" τ; the pretrained-only τ is the finer question and has little "
        "power here.",
        "",
        "## Per-configuration numbers",
        "",
    ]
    for ds in res:
        parts += [f"### {ds}", "", rows_table(rows, ds), ""]
    if box_parts:
        parts += ["", *box_parts]
    from bbselect.scoring.validated import keep_blocks

    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.is_file() else ""
    path.write_text(keep_blocks(old, "\n".join(parts)))  # other studies' marked sections kept


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------



def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke test: input 128, seed 0, MobileNet only")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"),
                    help="the shared data folder [default: ../shared beside the repo]")
    ap.add_argument("--doc", default=str(ROOT / "docs" / "validation.md"))
    ap.add_argument("--figure", default=str(ROOT / "docs" / "img" / "validation_tau.png"))
    ap.add_argument("--no-doc", action="store_true",
                    help="print only; write neither the page, the figure nor the validated-scores file")
    ap.add_argument("--part", choices=("all", "labels", "boxes"), default="all",
                    help="labels: classification data, ground truth probe accuracy; boxes: box data, ground "
                         "truth detection-probe mAP@0.5 [default: all]")
    ap.add_argument("--box-datasets", default=",".join(BOX_DATASETS),
                    help="comma-separated box data sets under ../shared/data/boxes [default: %(default)s]")
    ap.add_argument("--validated", default=str(ROOT / "bbselect" / "scoring" / "validated.json"),
                    help="where to write which scores the study supports (read by the verdict)")
    ap.add_argument("--json", default=None, help="also save every measured row and statistic to this JSON file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work folder (run folders)")
    ap.add_argument("--from-json", default=None, metavar="FILE",
                    help="no measuring: redo the statistics, tables, page and figure from a --json file")
    args = ap.parse_args(argv)

    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        render(saved["rows"], saved["meta"], args, saved.get("box_rows"))
        return 0

    shared = Path(args.shared).expanduser()
    weights = shared / WEIGHTS_FILE
    data = [shared / "data" / "labeled" / d for d in DATASETS] if args.part != "boxes" else []
    box_data = ([shared / "data" / "boxes" / d for d in args.box_datasets.split(",") if d]
                if args.part != "labels" else [])
    missing = [p for p in [weights, *data, *box_data] if not p.exists()]
    if missing:
        sys.exit("validation_study: the shared data is missing — expected "
                 + ", ".join(str(p) for p in missing)
                 + f".\nIt lives at ../shared beside the repo ({ROOT.parent / 'shared'}); "
                 "pass --shared PATH if it is elsewhere.")

    work = Path(tempfile.mkdtemp(prefix="bbselect-validation-"))
    os.environ["BBSELECT_CACHE"] = str(work / "cache")  # never the user's cache
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    groups = plan(args.quick, str(weights))
    t0 = time.perf_counter()
    rows: list[dict] = []
    try:
        step, total = 0, len(groups) * len(data)
        for d in data:
            for g in groups:
                step += 1
                tag = f"{d.name}-{g['kind']}-s{g['seed']}-{g['size']}-{step}"
                t1 = time.perf_counter()
                got = measure_group(d, g, work, tag)
                rows += got
                print(f"[{step}/{total}] {d.name} {g['kind']} seed={g['seed']} size={g['size']}: "
                      + ", ".join(f"{r['label']} probe={_f(r['probe'])}" for r in got)
                      + f"  ({time.perf_counter() - t1:.0f}s, total {time.perf_counter() - t0:.0f}s)",
                      flush=True)
        box_rows = measure_boxes(box_data, args.quick, str(weights), work, t0,
                                 Path(args.json + ".partial") if args.json else None)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder kept: {work}")
    seconds = time.perf_counter() - t0

    from importlib import metadata

    def version(p):
        try:
            return metadata.version(p)
        except metadata.PackageNotFoundError:
            return None

    cmd = "python studies/validation_study.py" + (" --quick" if args.quick else "") + (f" --part {args.part}" if args.part != "all" else "")
    meta = {"command": cmd, "cores": os.cpu_count(), "cpu": cpu_name(), "platform": platform.platform(),
            "python": platform.python_version(), "seconds": seconds, "quick": args.quick,
            "versions": {p: version(p) for p in ("tensorflow", "keras", "numpy", "scikit-learn", "scipy")}}
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows, "box_rows": box_rows,
                                               "results": analyse(rows)}, indent=1, default=str))
    render(rows, meta, args, box_rows)
    return 0


def measure_boxes(box_data: list[Path], quick: bool, weights: str, work: Path, t0: float,
                  partial: Path | None = None) -> list[dict]:
    """The box part: every configuration of ``validation_boxes.plan_boxes`` on each box data set.
    ``partial``: rewritten after every configuration, so an interrupted run keeps what it measured."""
    import validation_boxes as vb

    rows = []
    for root in box_data:
        data = vb.load_box_data(root)
        configs = vb.plan_boxes(quick, weights)
        for i, cfg in enumerate(configs, start=1):
            t1 = time.perf_counter()
            w = cfg["weights"]
            if cfg["kind"] == "cascade":
                w = cascade_file(data["images_dir"], cfg["stage"], cfg["k"], weights, work, cfg["size"])
            row = vb.measure(data, cfg, w)
            rows.append(row)
            if partial is not None:
                partial.write_text(json.dumps({"box_rows": rows}, default=str))
            print(f"[boxes {root.name} {i}/{len(configs)}] {vb.config_name(row)} {cfg['size']}: "
                  f"mAP@0.5={_f(row[vb.TRUTH])} (prior {_f(row['map50_prior'])}) roi_logme={_f(row['roi_logme'])} "
                  f"objectness={_f(row['objectness'])}  ({time.perf_counter() - t1:.0f}s, total "
                  f"{time.perf_counter() - t0:.0f}s)", flush=True)
    return rows


def render(rows: list[dict], meta: dict, args, box_rows: list[dict] | None = None) -> None:
    import validation_boxes as vb

    res = analyse(rows) if rows else {}
    box_res = vb.analyse_boxes(box_rows) if box_rows else {}
    if res:
        print_tables(res)
    if box_res:
        vb.print_boxes(box_res)
    seconds = meta["seconds"]
    print(f"\ntotal run time: {seconds:.0f} s ({seconds / 60:.1f} min)")
    if args.no_doc or meta.get("quick"):
        if not args.no_doc:
            print("--quick: docs/validation.md and the validated-scores file are left as they are")
        return
    if res:
        figure(res, Path(args.figure))
        write_doc(Path(args.doc), Path(args.figure), rows, res, meta,
                  vb.box_doc(box_rows, box_res, meta) if box_res else None)
    elif box_res:  # the box part alone: replace only the box section of the page
        vb.replace_box_section(Path(args.doc), vb.box_doc(box_rows, box_res, meta), meta)
    write_validated(Path(args.validated), res, box_res, meta)
    print(f"wrote {args.doc} and {args.validated}" + (f" and {args.figure}" if res else ""))


def write_validated(path: Path, res: dict, box_res: dict, meta: dict) -> None:
    """Which scores the study supports, per kind of data, for ``bbselect.scoring.evidence``."""
    import validation_boxes as vb

    old = json.loads(path.read_text()) if path.is_file() else {}
    doc = {
        "generated_by": meta["command"], "seconds": round(meta["seconds"]),
        "rule": validated.RULE,
        "boxes": {"ground_truth": "detection-probe mAP@0.5", "datasets": list(box_res),
                  "scores": vb.support_json(box_res)} if box_res else old.get("boxes"),
        "labels": {"ground_truth": "linear-probe accuracy", "datasets": list(res),
                   "scores": {k: {"supported": supported(res, k),
                                  "tau": {ds: res[ds]["tau"][k]["tau"] for ds in res},
                                  "p": {ds: res[ds]["tau"][k]["p"] for ds in res},
                                  "tau_nonrandom": {ds: res[ds]["tau_nonrandom"][k]["tau"] for ds in res}}
                              for k, _ in SCORES}}
        if res else old.get("labels"),
    }
    validated.write(path, doc)  # other studies' keys kept


if __name__ == "__main__":
    sys.exit(main())
