"""The within-family study's tables, Markdown and terminal: τ per score and the per-configuration
numbers, for the labels part and the box part."""

from __future__ import annotations

from bbselect.common import finite
from studies.tables import fmt, fmt_p, markdown, terminal
from studies.validation import plan
from studies.validation.analyse import supported_boxes

ARCH = {"mobilenet": "MobileNet α0.25", "resnet50": "ResNet50", "mobilenetv2": "MobileNetV2"}
LABEL_COLUMNS = ["knn", "logme", "separation", "stability", "augmentation_retrieval", "max.otsu", "mean.otsu",
                 "mean.top10_mass", "mean.concentration", "effective_rank", "dead_fraction"]
BOX_COLUMNS = ["roi_logme", "tlogme", "objectness", "objectness_prior", "pooled_logme", "box_auroc",
               "mean.mass_ratio", "mean.pointing", "effective_rank", "dead_fraction", "separation", "stability",
               "augmentation_retrieval"]


def tau_table(res: dict, ds: str) -> str:
    r = res[ds]
    head = ["score", "τ vs probe", "p", "n", "τ, NaN ranked last", "p", "n", "τ (pretrained only)", "n",
            "τ (non-random: pretrained + cascade)", "p", "n", "real > random (all pairs)",
            "real > random (same backbone, stage, size)", "real > cascade (same stage, size)"]
    rows = []
    for k in plan.label_scores():
        t, tn, tr, tnr = (r[x][k] for x in ("tau", "tau_nan_last", "tau_real", "tau_nonrandom"))
        rows.append([plan.heading(k), f"**{fmt(t['tau'])}**", fmt_p(t["p"]), str(t["n"]), fmt(tn["tau"]),
                     fmt_p(tn["p"]), str(tn["n"]), fmt(tr["tau"]), str(tr["n"]), fmt(tnr["tau"]), fmt_p(tnr["p"]),
                     str(tnr["n"]), fmt(r["rvr"][k]["all"]), fmt(r["rvr"][k]["matched"]), fmt(r["rvc"][k]["share"])])
    k = plan.TRUTH
    rows.append(["*probe acc. (reference)*", "1", "–", "–", "1", "–", "–", "1", "–", "1", "–", "–",
                 fmt(r["rvr"][k]["all"]), fmt(r["rvr"][k]["matched"]), fmt(r["rvc"][k]["share"])])
    return "\n".join(markdown(head, rows, "l" + "r" * 14))


def config_name(r: dict) -> str:
    arch = ARCH.get(r["backbone"].split(":")[0], r["backbone"])
    word = {"real": "**pretrained**", "cascade": f"cascade k={r.get('k')}"}.get(r["kind"], "random")
    return f"{word} {arch} {r['stage']}"


def rows_table(rows: list[dict], ds: str) -> str:
    head = ["config", "size", "seed", "probe acc. [95% CI]", *LABEL_COLUMNS, "images with a scorable max / mean map"]
    out = []
    for r in sorted((r for r in rows if r["dataset"] == ds), key=lambda r: -r[plan.TRUTH] if finite(r[plan.TRUTH]) else 9):
        cover = " / ".join("?" if r.get(f"{m}.otsu.n_missing") is None else str(r["n_images"] - r[f"{m}.otsu.n_missing"])
                           for m in ("max", "mean"))
        out.append([config_name(r), str(r["size"]), "" if r["seed"] is None else str(r["seed"]),
                    f"{fmt(r[plan.TRUTH], 3)} [{fmt(r['probe_lo'])}, {fmt(r['probe_hi'])}]",
                    *(fmt(r[c], 1 if c == "effective_rank" else 3) for c in LABEL_COLUMNS),
                    f"{cover} of {r['n_images']}"])
    return "\n".join(markdown(head, out, "lrrl" + "r" * (len(LABEL_COLUMNS) + 1)))


def print_labels(res: dict) -> None:
    head = [("score", 22), ("tau", 6), ("p", 8), ("n", 3), ("tauNaN", 6), ("p", 8), ("n", 3), ("tau_real", 8),
            ("tau_nr", 6), ("p", 8), ("real>rand", 9), ("matched", 8), (">casc", 6)]
    for ds, r in res.items():
        print(f"\n== {ds}: {r['n_configs']} configurations ==")
        rows = []
        for k in [*plan.label_scores(), plan.TRUTH]:
            rv, rc = r["rvr"][k], r["rvc"][k]
            if k == plan.TRUTH:
                rows.append(["(probe acc.)", *[""] * 9, fmt(rv["all"]), fmt(rv["matched"]), fmt(rc["share"])])
                continue
            t, tn, tr, tnr = (r[x][k] for x in ("tau", "tau_nan_last", "tau_real", "tau_nonrandom"))
            rows.append([plan.heading(k), fmt(t["tau"]), fmt_p(t["p"]), str(t["n"]), fmt(tn["tau"]), fmt_p(tn["p"]),
                         str(tn["n"]), fmt(tr["tau"]), fmt(tnr["tau"]), fmt_p(tnr["p"]), fmt(rv["all"]),
                         fmt(rv["matched"]), fmt(rc["share"])])
        print("\n".join(terminal(head, rows)))


def box_tau_table(res: dict, ds: str) -> str:
    r = res[ds]
    head = ["score", "τ vs mAP@0.5", "p", "n", "τ (non-random)", "p", "n", "pretrained > degraded (all pairs)",
            "pretrained > cascade (same stage)", "supported (data sets above floor)"]
    rows = []
    for k in plan.box_scores():
        t, tn, a = r["tau"][k], r["tau_nonrandom"][k], r["above"][k]
        rows.append([plan.heading(k), f"**{fmt(t['tau'])}**", fmt_p(t["p"]), str(t["n"]), fmt(tn["tau"]),
                     fmt_p(tn["p"]), str(tn["n"]), fmt(a["all"]), fmt(a["cascade"]),
                     "**yes**" if supported_boxes(res, k) else "no"])
    a = r["above"][plan.BOX_TRUTH]
    rows.append(["*mAP@0.5 (reference)*", "1", "–", "–", "1", "–", "–", fmt(a["all"]), fmt(a["cascade"]), ""])
    return "\n".join(markdown(head, rows, "l" + "r" * 8 + "l"))


def box_rows_table(rows: list[dict], ds: str) -> str:
    head = ["config", "size", "mAP@0.5 [95% CI]", "prior-only mAP@0.5", *BOX_COLUMNS]
    out = []
    t = plan.BOX_TRUTH
    for r in sorted((r for r in rows if r["dataset"] == ds), key=lambda r: -r[t] if finite(r[t]) else 9):
        out.append([config_name(r), str(r["size"]), f"{fmt(r[t], 3)} [{fmt(r['map50_lo'])}, {fmt(r['map50_hi'])}]",
                    fmt(r["map50_prior"], 3), *(fmt(r.get(c), 1 if c == "effective_rank" else 3) for c in BOX_COLUMNS)])
    return "\n".join(markdown(head, out, "lrlr" + "r" * len(BOX_COLUMNS)))


def print_boxes(res: dict) -> None:
    head = [("score", 28), ("tau", 6), ("p", 8), ("n", 3), ("tau_nr", 6), ("p", 8), ("n", 3), (">degr", 6),
            (">casc", 6), ("supported", 9)]
    for ds, r in res.items():
        print(f"\n== {ds} (boxes): {r['n_configs']} configurations, ground truth detection-probe mAP@0.5 ==")
        rows = [[plan.heading(k), fmt(r["tau"][k]["tau"]), fmt_p(r["tau"][k]["p"]), str(r["tau"][k]["n"]),
                 fmt(r["tau_nonrandom"][k]["tau"]), fmt_p(r["tau_nonrandom"][k]["p"]), str(r["tau_nonrandom"][k]["n"]),
                 fmt(r["above"][k]["all"]), fmt(r["above"][k]["cascade"]), "yes" if supported_boxes(res, k) else "no"]
                for k in plan.box_scores()]
        print("\n".join(terminal(head, rows)))
