"""The fine-tuning study's outputs: its block of docs/validation.md (nothing outside it is touched;
appended when absent) and the ``finetune`` key of validated.json (written through
``bbselect.scoring.validated``; every other key kept), predictors under ``plan.PREDICTORS``' keys."""

from __future__ import annotations

import math
from pathlib import Path

from bbselect.scoring import validated
from studies import docs
from studies.finetune import plan
from studies.finetune.page import block
from studies.finetune.plan import PROBE

COMMAND = "python -m studies.finetune"


def write_doc(path: Path, r: dict) -> None:
    text = path.read_text() if path.exists() else ""
    new = block(r)
    cur = validated.block(text, "finetune")
    path.write_text(text.replace(cur, new) if cur else text.rstrip("\n") + "\n\n" + new + "\n")


def _clean(v):
    """JSON-safe: NaN and infinities as null."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def finetune_json(r: dict) -> dict:
    """validated.json's ``finetune`` key (``validated.finetune`` and ``validated.finetune_scores`` read it)."""
    t = r["taus"]
    probe, pre = t[(PROBE, "map50", "all")], t[(PROBE, "map50", "pretrained")]
    return _clean({
        "generated_by": COMMAND, "dataset": "raccoon",
        "ground_truth": f"mAP@0.5 of the probe's head fine-tuned end to end with the backbone on the c4 tap "
                        f"({r['folds']}-fold by image, the probe's folds)",
        "schedule": r["main"], "folds": r["folds"], "n_images": r["n_images"],
        "probe": {"tau": probe["tau"], "ci": probe["ci"], "p": probe["p"], "n": probe["n"],
                  "tau_pretrained": pre["tau"], "ci_pretrained": pre["ci"], "n_pretrained": pre["n"]},
        "scores": {pk: {"tau": t[(pk, "map50", "all")]["tau"], "ci": t[(pk, "map50", "all")]["ci"],
                        "n": t[(pk, "map50", "all")]["n"], "tau_pretrained": t[(pk, "map50", "pretrained")]["tau"],
                        "ci_pretrained": t[(pk, "map50", "pretrained")]["ci"]}
                   for pk, _ in plan.PREDICTORS if t[(pk, "map50", "all")]["n"]},
        "probe_pick": r.get("probe_pick"), "probe_pick_in_tie": r.get("probe_pick_in_tie"),
        "tie_set": r.get("tie"), "fine_tuned_best": r.get("ft_best"),
        "stability_short_vs_long": r["stability"]["tau"], "supported": r["supported"],
        "seconds": round(r.get("wall_seconds") or 0.0),
    })


def write_validated(path: Path, r: dict) -> None:
    validated.write(path, {"finetune": finetune_json(r)}, owns=("finetune",))
    docs.after_write(path)


def render(r: dict, doc: Path, out: Path | None) -> None:
    """Write the page's block at ``doc`` and the ``finetune`` key of validated.json at ``out`` (None: neither)."""
    if out is None:
        return
    write_doc(doc, r)
    write_validated(out, r)
    print(f"wrote {doc} (finetune block) and {out} ('finetune')", flush=True)
