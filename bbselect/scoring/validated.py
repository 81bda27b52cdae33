"""What the validation studies support: the rule they apply, and the reader and writer of
``validated.json`` (written only by the studies in ``studies/``, through ``write``; never by hand).

A score may drive the verdict only where the study shows it predicts a ground truth on real data
(docs/validation.md).  For boxes the ground truth is the detection probe's mAP@0.5; when boxes exist
but the probe did not run, ``box_choice`` picks the cheap box score the study supports best: among
the supported ones that this run computed, the one whose τ on its worse data set is highest.  No
file, or no supported score, means boxes do not rank (the verdict says so).  ``label_free`` says
whether a label-free score (neighbourhood stability) is supported, with its measured τ.  ``finetune``
reads the key "finetune" (written by ``python -m studies.finetune`` only): how well the frozen
detection probe orders detectors fine-tuned end to end; ``finetune_text`` is the detection headline's
clause quoting it (None when the study never ran here, so the headline then claims nothing);
``finetune_part`` is that key (its predictors named by the score registry).
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

from bbselect.scoring import registry

# The support rule, in one place: the studies apply it (``predicts``, ``separates``) and write its
# outcome; the verdict only reads the outcome.
SUPPORT_P = 0.05  # Kendall tau against the ground truth must be > 0 with p below this
SUPPORT_SHARE = 0.8  # and pretrained must be ordered above the degraded configurations in this share of pairs
RULE = ("supported = on every data set of the kind, Kendall tau > 0 with p < 0.05 against the ground "
        "truth AND pretrained ordered above the degraded (random-init / cascade) configurations in "
        ">= 80 % of pairs")
ZOO_RULE = ("scope 'across' = on every data set of the score's tier, tau across ImageNet families >= the "
            "ImageNet-top-1 prior's AND the off-task VGG16 ranked below every ImageNet network AND the data "
            "set's ground truth holds across head designs (tau between the two heads, 95% CI above 0); "
            "else 'within'")


def predicts(t: dict) -> bool:
    """``t`` = ``{"tau", "p"}``: a significant positive rank correlation with the ground truth."""
    return _finite(t.get("tau")) and t["tau"] > 0 and _finite(t.get("p")) and t["p"] < SUPPORT_P


def inverted(t: dict) -> bool:
    """A significant negative rank correlation (a higher score goes with a worse ground truth)."""
    return _finite(t.get("tau")) and t["tau"] < 0 and _finite(t.get("p")) and t["p"] < SUPPORT_P


def separates(share) -> bool:
    """The share of (pretrained, degraded) pairs the score orders pretrained-first is high enough."""
    return _finite(share) and share >= SUPPORT_SHARE


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def load(path=None) -> dict:
    """The studies' last verdict (the packaged file, or the one at ``path``), or {} when never run here.

    Its score keys are the score registry's gate-metric names (``augmentation_retrieval``,
    ``mean.mass_ratio``); a key that is not one names a study baseline (e.g. ``pooled_logme``)."""
    try:
        text = (Path(path).read_text() if path is not None
                else resources.files("bbselect.scoring").joinpath("validated.json").read_text())
    except (FileNotFoundError, OSError):
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {}


def box_choice(entries: list[dict], study: dict | None = None) -> dict | None:
    """``{"name", "tau", "worst_tau"}`` of the supported box score to rank by, or None.

    ``tau``: data set -> Kendall τ with detection-probe mAP@0.5 as measured by the study."""
    study = load() if study is None else study
    scores = ((study.get("boxes") or {}).get("scores")) or {}
    best = None
    for name, info in scores.items():
        counted = info.get("counted")  # data sets whose ground truth is above its floor (all when absent)
        tau = {ds: t for ds, t in (info.get("tau") or {}).items()
               if (counted is None or ds in counted) and isinstance(t, (int, float)) and math.isfinite(t)}
        taus = list(tau.values())
        if not info.get("supported") or not _is_box_score(name) or not taus:
            continue
        if not any(math.isfinite(registry.value(e, name)) for e in entries):
            continue
        cand = {"name": name, "tau": tau, "worst_tau": min(taus)}
        if best is None or cand["worst_tau"] > best["worst_tau"]:
            best = cand
    return best


def registered(key: str) -> bool:
    """Whether a score key of validated.json names a registered score: a whole-backbone score by its name
    (``augmentation_retrieval``), a per-map one as ``<map>.<name>`` (``max.otsu``, ``mean.mass_ratio``)."""
    agg, _, name = key.rpartition(".")
    spec = next((s for s in registry.specs() if s.name == name), None)
    return spec is not None and (spec.per_map and agg in registry.SCORED_MAPS or not spec.per_map and not agg)


def _is_box_score(name: str) -> bool:
    return registered(name) and registry.get(name.rpartition(".")[2]).tier == "boxes"


def label_free(name: str, study: dict | None = None) -> dict:
    """What the study measured for one label-free score, for the verdict's "how sure" line:
    ``{"supported": bool, "tau": {data set: τ over pretrained + degraded configurations}}``.
    Never run here (no file) = not supported, no numbers."""
    study = load() if study is None else study
    info = (((study.get("labels") or {}).get("scores")) or {}).get(name) or {}
    taus = info.get("tau_nonrandom") or {}
    return {"supported": bool(info.get("supported")),
            "tau": {ds: t for ds, t in taus.items() if isinstance(t, (int, float)) and math.isfinite(t)}}


def zoo_scope(score: str, study: dict | None = None) -> str | None:
    """``across`` / ``within`` as the cross-family study wrote it for ``score``; None: never studied."""
    study = load() if study is None else study
    info = (((study.get("zoo") or {}).get("scores")) or {}).get(score) or {}
    return info.get("scope")


def status(name: str, kind: str, study: dict | None = None) -> str:
    """What the within-family study says of one registered score against one ground truth (``kind``:
    "labels" = probe accuracy, "boxes" = detection-probe mAP): "supported", "not supported", per map
    for a per-map score ("mean: supported; max: not supported"), or "" when it was not studied."""
    study = load() if study is None else study
    found = {key.rpartition(".")[0]: bool(info.get("supported"))
             for key, info in (((study.get(kind) or {}).get("scores")) or {}).items() if key.rpartition(".")[2] == name}
    words = {True: "supported", False: "not supported"}
    if set(found) == {""}:
        return words[found[""]]
    return "; ".join(f"{agg}: {words[ok]}" for agg, ok in sorted(found.items()))


def random_level(study: dict | None = None, score: str = "stability") -> float | None:
    """The highest ``score`` random-init networks reached in the cross-family study (None: not measured)."""
    study = load() if study is None else study
    level = ((((study.get("zoo") or {}).get("random_level")) or {}).get(score) or {}).get("flag_below")
    return float(level) if _finite(level) else None


def _interval(ci) -> tuple[float, float]:
    ci = list(ci or [])[:2] + [None, None]
    return tuple(float(c) if isinstance(c, (int, float)) else math.nan for c in ci[:2])


def finetune_part(study: dict | None = None) -> dict:
    """validated.json's "finetune" key ({} when the study never ran here); its predictors (``scores``)
    are named by the score registry (a test checks the packaged file)."""
    study = load() if study is None else study
    return dict(study.get("finetune") or {})


def finetune(study: dict | None = None) -> dict | None:
    """What the fine-tuning study (``python -m studies.finetune``) measured for the detection probe:
    ``{"tau", "lo", "hi", "n", "supported", "pretrained"}`` -- Kendall τ of frozen-probe mAP@0.5 against
    fine-tuned mAP@0.5 across networks, its 95 % interval, how many networks, and the same over the
    pretrained networks alone (``{"tau", "lo", "hi", "n"}`` or None) -- or None when it never ran here."""
    part = finetune_part(study)
    probe = part.get("probe") or {}
    tau, n = probe.get("tau"), probe.get("n")
    if not isinstance(tau, (int, float)) or not math.isfinite(tau) or not isinstance(n, int) or n < 3:
        return None
    lo, hi = _interval(probe.get("ci"))
    pre = None
    tp, n_pre = probe.get("tau_pretrained"), probe.get("n_pretrained")
    if isinstance(tp, (int, float)) and math.isfinite(tp) and isinstance(n_pre, int):
        plo, phi = _interval(probe.get("ci_pretrained"))
        pre = {"tau": float(tp), "lo": plo, "hi": phi, "n": n_pre}
    return {"tau": float(tau), "lo": lo, "hi": hi, "n": n,
            "supported": bool(part.get("supported")), "pretrained": pre}


def _tau_ci(t: dict) -> str:
    ci = f" [{t['lo']:.2f}, {t['hi']:.2f}]" if math.isfinite(t["lo"]) and math.isfinite(t["hi"]) else ""
    return f"τ = {t['tau']:.2f}{ci}"


def finetune_text(study: dict | None = None) -> str | None:
    """The detection headline's clause on what the probe's mAP means (None when the study never ran)."""
    info = finetune(study)
    if info is None:
        return None
    text = (f"frozen-backbone detection quality; in bbselect's study it orders fine-tuned detectors with "
            f"{_tau_ci(info)}, n = {info['n']} networks")
    pre = info["pretrained"]
    if pre is not None and pre["n"] < info["n"] and not pre["lo"] > 0:
        text += (f" (among the {pre['n']} pretrained ones alone {_tau_ci(pre)}: not shown to predict which "
                 f"pretrained backbone fine-tunes best)")
    if not info["supported"]:
        text += " (not shown to predict the detector you will fine-tune; docs/validation.md)"
    return text


def tau_text(choice: dict) -> str:
    return ", ".join(f"τ = {t:.2f} on {ds}" for ds, t in choice["tau"].items())


# Top-level keys and page sections that other studies own: a writer that regenerates validated.json or
# docs/validation.md keeps them as they are (the fine-tuning study writes "finetune" and its marked block;
# the cross-family study writes "zoo" and its marked block).
FOREIGN_KEYS = ("finetune", "zoo")
MARKERS = {"finetune": ("<!-- finetune:begin -->", "<!-- finetune:end -->"),
           "zoo": ("<!-- zoo:begin -->", "<!-- zoo:end -->")}


def write(path, new: dict, owns: tuple[str, ...] | None = None) -> None:
    """Write a study's part of ``validated.json`` at ``path``. ``owns=None``: the validation study, which
    regenerates every key but those other studies own (``FOREIGN_KEYS``); ``owns=("zoo",)`` etc.: a study
    that replaces only its own keys."""
    path = Path(path)
    old = json.loads(path.read_text()) if path.is_file() else {}
    out = merged(old, new) if owns is None else {**old, **{k: new[k] for k in owns}}
    path.write_text(json.dumps(out, indent=1) + "\n")


def merged(old: dict, new: dict, owns: tuple[str, ...] = ()) -> dict:
    """``new`` plus every top-level key of ``old`` that ``new`` does not set and that another study owns
    (``FOREIGN_KEYS`` minus ``owns``, the keys this writer itself regenerates)."""
    out = dict(new)
    for key in FOREIGN_KEYS:
        if key not in owns and key not in out and key in (old or {}):
            out[key] = old[key]
    return out


def block(text: str, key: str) -> str | None:
    """The marked block ``key`` of a page (markers included), or None when the page has none."""
    begin, end = MARKERS[key]
    i = text.find(begin)
    j = text.find(end, i + len(begin)) if i >= 0 else -1
    return text[i:j + len(end)] if i >= 0 and j >= 0 else None


def keep_blocks(old_text: str, new_text: str, owns: tuple[str, ...] = ()) -> str:
    """``new_text`` with the marked blocks of ``old_text`` that another study owns: replaced in place
    when ``new_text`` has the markers, else appended at the end."""
    out = new_text
    for key in MARKERS:
        if key in owns:
            continue
        old = block(old_text or "", key)
        if old is None:
            continue
        cur = block(out, key)
        out = out.replace(cur, old) if cur is not None else out.rstrip("\n") + "\n\n" + old + "\n"
    return out
