"""The study figures other pages quote, rendered from ``validated.json`` (never typed by hand).

docs/evidence.md and README.md hold each table between ``<!-- NAME:begin ... -->`` and
``<!-- NAME:end -->`` markers (``BLOCKS``: name -> renderer); ``replace_blocks`` rewrites every block a
page has from the study's file, and ``tests/repo/test_docs_generated.py`` fails when a page's block
differs from what ``validated.json`` gives. The studies rewrite the pages after writing the file
(``python -m studies.validation --docs-only`` does only that). Pure: a dict in, Markdown out.
"""

from __future__ import annotations

import re

from bbselect.common import finite
from bbselect.scoring import validated

SOURCE = "generated from bbselect/scoring/validated.json by bbselect/scoring/studytables.py"
SHORT = {"magnetic-tile-defects": "tiles"}  # data set names as the tables' headings read


def _f(v, nd: int = 2) -> str:
    return "–" if v is None else ("NaN" if not finite(v) else f"{v:.{nd}f}")


def _p(v) -> str:
    return "–" if not finite(v) else (f"{v:.0e}" if v < 1e-3 else f"{v:.3f}")


def _ci(t: dict | None) -> str:
    t = t or {}
    return f"{_f(t.get('tau'))} [{_f(t.get('lo'))}, {_f(t.get('hi'))}]"


def _share(v) -> str:
    return "–" if not finite(v) else f"{round(100 * v)} %"


def _yes(v) -> str:
    return "–" if v is None else ("yes" if v else "**no**")


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _names(dss) -> str:
    return " / ".join(SHORT.get(ds, ds) for ds in dss)


def labels_table(study: dict) -> str:
    """Within one family, labels: τ with linear-probe accuracy per score (``labels`` key)."""
    part = study.get("labels") or {}
    dss = part.get("datasets") or []
    rows = []
    for key, s in (part.get("scores") or {}).items():
        rows.append([f"`{key}`", *(f"{_f(s['tau'].get(ds))} ({_p(s['p'].get(ds))})" for ds in dss),
                     " / ".join(_f(s["tau_nonrandom"].get(ds)) for ds in dss),
                     " / ".join(_share((s.get("above_random") or {}).get(ds)) for ds in dss),
                     "**yes**" if s["supported"] else "no"])
    head = ["score", *(f"{SHORT.get(ds, ds)} τ (p)" for ds in dss), f"τ pretrained + cascade ({_names(dss)})",
            "pretrained above random", "supported?"]
    return _table(head, rows)


def boxes_table(study: dict) -> str:
    """Within one family, boxes: τ with detection-probe mAP@0.5 per score (``boxes`` key)."""
    part = study.get("boxes") or {}
    dss = part.get("datasets") or []
    rows = []
    for key, s in (part.get("scores") or {}).items():
        counted = s.get("counted") or dss
        rows.append([f"`{key}`", *(f"{_f(s['tau'].get(ds))} ({_p(s['p'].get(ds))})" for ds in dss),
                     " / ".join(_f(s["tau_nonrandom"].get(ds)) for ds in dss),
                     " / ".join(_share((s.get("above_degraded") or {}).get(ds)) for ds in dss),
                     ("**yes**" if s["supported"] else "no") + f" (on {', '.join(counted) or 'none'})"])
    head = ["score", *(f"{ds} τ (p)" for ds in dss), f"τ pretrained + cascade ({_names(dss)})",
            f"pretrained above degraded ({_names(dss)})", "supported? (data sets above the probe's floor)"]
    return _table(head, rows)


def finetune_table(study: dict) -> str:
    """Frozen-feature predictors against detectors fine-tuned end to end (``finetune`` key; registry names)."""
    part = validated.finetune_part(study)
    rows = []
    for key, s in (part.get("scores") or {}).items():
        all_ = {"tau": s.get("tau"), "lo": (s.get("ci") or [None, None])[0], "hi": (s.get("ci") or [None, None])[1]}
        pre = {"tau": s.get("tau_pretrained"), "lo": (s.get("ci_pretrained") or [None, None])[0],
               "hi": (s.get("ci_pretrained") or [None, None])[1]}
        rows.append([f"`{key}`", _ci(all_), _ci(pre), str(s.get("n", "–"))])
    return _table(["predictor", "τ over all networks [95% CI]", "τ over the pretrained ones [95% CI]", "networks"],
                  rows)


def zoo_table(study: dict) -> str:
    """Across families: τ per scope, the off-task check and the scope each score may rank in (``zoo`` key)."""
    part = study.get("zoo") or {}
    scores = part.get("scores") or {}
    dss = list(part.get("prior") or {})
    rows = [["ImageNet top-1 (prior)", *(" / ".join(_f((part["prior"].get(ds) or {}).get(s, {}).get("tau"))
                                                     for ds in dss) for s in ("imagenet", "all")),
             " / ".join(_yes((part["prior"].get(ds) or {}).get("offtask_last")) for ds in dss), "prior"]]
    for key, s in scores.items():
        tau = s.get("tau") or {}
        rows.append([f"`{key}`", *(" / ".join(_f(tau[ds][sc]["tau"]) if ds in tau else "–" for ds in dss)
                                   for sc in ("imagenet", "all")),
                     " / ".join(_yes((s.get("offtask_last") or {}).get(ds)) for ds in dss),
                     "**yes**" if s.get("scope") == "across" else "no"])
    head = ["estimator", f"τ across ImageNet families ({_names(dss)})", f"τ across everything ({_names(dss)})",
            "off-task VGG16 below every ImageNet network", "may rank across families?"]
    return _table(head, rows)


def heads_table(study: dict) -> str:
    """Do the ground truths hold across head designs? τ between bbselect's head and head B (``zoo.heads``)."""
    heads = (study.get("zoo") or {}).get("heads") or {}
    rows = [[ds, *(_ci((h.get("b") or {}).get(sc)) for sc in ("within", "imagenet", "all"))]
            for ds, h in heads.items() if h.get("b")]
    return _table(["data set", "τ within a family [95% CI]", "τ across ImageNet families [95% CI]",
                   "τ across everything [95% CI]"], rows)


def key_figures(study: dict) -> str:
    """The README's few figures, one line each, from the same file."""
    lab = ((study.get("labels") or {}).get("scores")) or {}
    box = ((study.get("boxes") or {}).get("scores")) or {}
    zoo = study.get("zoo") or {}
    ft = validated.finetune(study)
    dss = (study.get("labels") or {}).get("datasets") or []
    rows = []
    for key in ("stability", "separation"):
        if key in lab:
            s = lab[key]
            rows.append([f"`{key}` vs linear-probe accuracy, within one family ({_names(dss)})",
                         f"τ {' / '.join(_f(s['tau'][ds]) for ds in dss)} over all configurations, "
                         f"{' / '.join(_f(s['tau_nonrandom'][ds]) for ds in dss)} over pretrained + cascade; "
                         + ("supported" if s["supported"] else "**not supported**")])
    for key, s in box.items():
        if s.get("supported") and key in ("objectness", "objectness_gain"):
            counted = s.get("counted") or []
            rows.append([f"`{key}` vs detection-probe mAP@0.5 ({', '.join(counted)})",
                         ", ".join(f"τ {_f(s['tau'][ds])} (p {_p(s['p'][ds])})" for ds in counted) + "; supported"])
    if ft:
        pre = ft["pretrained"]
        rows.append(["frozen detection probe vs fine-tuned detectors",
                     f"τ {_ci(ft)} over {ft['n']} networks"
                     + (f"; {_ci(pre)} over the {pre['n']} pretrained ones" if pre else "")])
    zdss = list(zoo.get("prior") or {})
    for label, get in (("ImageNet top-1 prior", lambda ds, sc: (zoo["prior"][ds].get(sc) or {}).get("tau")),
                       ("`stability`", lambda ds, sc: (((zoo.get("scores") or {}).get("stability") or {})
                                                       .get("tau", {}).get(ds, {}).get(sc) or {}).get("tau"))):
        if zdss:
            rows.append([f"{label} across families ({_names(zdss)})",
                         f"τ {' / '.join(_f(get(ds, 'imagenet')) for ds in zdss)} across ImageNet families, "
                         f"{' / '.join(_f(get(ds, 'all')) for ds in zdss)} across everything"])
    across = [k for k, s in (zoo.get("scores") or {}).items() if s.get("scope") == "across"]
    if zoo:
        rows.append(["scores allowed to rank across families", ", ".join(f"`{k}`" for k in across) or "**none**"])
    return _table(["what the studies measured", "figure"], rows)


BLOCKS = {"study-labels": labels_table, "study-boxes": boxes_table, "study-finetune": finetune_table,
          "study-zoo": zoo_table, "study-heads": heads_table, "study-figures": key_figures}
_BLOCK = re.compile(r"(<!-- (?P<name>[\w-]+):begin[^>]*-->\n)(?P<body>.*?)(<!-- (?P=name):end -->)", re.S)


def blocks(text: str) -> dict[str, str]:
    """The generated blocks a page holds: name -> body (between the markers)."""
    return {m["name"]: m["body"] for m in _BLOCK.finditer(text) if m["name"] in BLOCKS}


def render(name: str, study: dict) -> str:
    return BLOCKS[name](study) + "\n"


def replace_blocks(text: str, study: dict | None = None) -> str:
    """``text`` with every generated block rendered afresh from ``study`` (default: the packaged file)."""
    study = validated.load() if study is None else study
    return _BLOCK.sub(lambda m: m.group(1) + (render(m["name"], study) if m["name"] in BLOCKS else m["body"])
                      + m.group(4), text)


def begin(name: str) -> str:
    return f"<!-- {name}:begin ({SOURCE}) -->"


def end(name: str) -> str:
    return f"<!-- {name}:end -->"

