"""The labels part's figure, docs/img/validation_tau.png."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from bbselect.common import finite
from studies.validation import plan

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)


def figure(res: dict, path: Path) -> None:
    """τ per score and data set (top) and the pretrained-vs-random share (bottom)."""
    keys = plan.label_scores()
    n_free = len(plan.label_free())
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
                      "configurations with a finite score; (↓) = sign-flipped)", fontsize=9)
    axes[0].legend(fontsize=9, loc="lower left")
    axes[0].axvspan(n_free - 0.5, len(keys) - 0.5, color="0.92", zorder=-1)
    axes[0].text(n_free + 0.5, -0.92, "label-aware", ha="center", fontsize=9, color="0.3")
    axes[1].axhline(0.5, color="k", lw=0.8, ls="--")
    axes[1].axvspan(n_free - 0.5, len(keys) - 0.5, color="0.92", zorder=-1)
    axes[1].set_ylim(0, 1)
    axes[1].set_ylabel("share of (pretrained, random)\npairs ranked pretrained-first")
    axes[1].set_xticks(x)
    axes[1].set_xticklabels([plan.heading(k) for k in keys], rotation=30, ha="right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
