"""The bodies of the CLI's look-up commands (``bbselect backbones``, ``scores``, ``config``); cli.py keeps
their options and help. They print for people (rich tables) and raise ``bbselect.errors`` classes."""

from __future__ import annotations

import fnmatch
import json
from importlib import metadata
from pathlib import Path

import click

from bbselect.common import did_you_mean
from bbselect.errors import BBSelectError, UsageError
from bbselect.models import registry

MEASURE_AT_MOST = 6  # unmeasured backbones built in one call; the whole registry takes minutes


def list_backbones(pattern: str = "*") -> None:
    """The registry entries matching ``pattern``: params, GFLOPs at 224, ImageNet weights cached?"""
    from rich.console import Console
    from rich.table import Table

    from bbselect.models import catalog
    from bbselect.reports.formats import fmt_gflops, fmt_params

    names = [n for n in registry.REGISTRY if fnmatch.fnmatch(n, pattern.lower())]
    if not names:
        raise UsageError(f"no backbone matches {pattern!r}{did_you_mean(pattern, registry.REGISTRY)} "
                         "(`bbselect backbones` lists them all)")
    facts = backbone_facts(names if len(names) <= MEASURE_AT_MOST else [])
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col, just in (("", "left"), ("backbone", "left"), ("params", "right"), ("GFLOPs@224", "right"),
                      ("ImageNet weights", "left"), ("options", "left")):
        table.add_column(col, justify=just)
    for name in names:
        spec, f = registry.REGISTRY[name], facts.get(name, {})
        opts = ", ".join(f"{k}={o.default}" + (f" ({'|'.join(map(str, o.choices))})" if o.choices else "")
                         for k, o in spec.options.items())
        cached = "in cache" if catalog.weights_cached(f.get("weights_file")) else "not cached"
        table.add_row("*" if name in registry.DEFAULT_BACKBONES else "", name, fmt_params(f.get("params")),
                      fmt_gflops(f.get("gflops")), cached, opts)
    console = Console(highlight=False)
    console.print(table)
    if any(n not in facts for n in names):
        console.print(f"\nparams / GFLOPs of more than {MEASURE_AT_MOST} unmeasured backbones are not measured at once "
                      "(each is built once, up to minutes for the whole registry): name a few, e.g. "
                      "`bbselect backbones 'res*'`; measured ones are remembered.")
    console.print("\n* = default. Select options with NAME:key=value (e.g. mobilenet:alpha=0.25). "
                  f"Keras weights cache: {catalog.keras_models_dir()}")


def backbone_facts(names: list[str]) -> dict:
    """``catalog.describe`` for each name, remembered in the cache folder per Keras version."""
    from bbselect.models import catalog
    from bbselect.progress import Progress
    from bbselect.store import rundir
    from bbselect.store.cache import default_dir

    path = default_dir() / f"backbones-keras-{metadata.version('keras')}.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if not names:  # nothing to measure: what is remembered
        return known
    missing = [n for n in names if n not in known]
    if missing:
        prog = Progress("measuring backbones", len(missing), unit="backbones")
        for n in missing:
            known[n] = catalog.describe(n)
            prog.advance()
        prog.close()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            rundir.write_json(path, known)
        except (BBSelectError, OSError):
            pass  # a read-only cache folder only costs the next call the same measurement
    return known


def list_scores() -> None:
    """Every registered score: its ``--fail-under`` metric name(s), the kind of evidence, which way is
    better, the setting it needs, and what the validation studies say of it (``validated.json``)."""
    from rich.console import Console
    from rich.table import Table

    from bbselect.scoring import registry as scores
    from bbselect.scoring import validated

    study, gates = validated.load(), set(scores.gate_metrics())
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("metric (--fail-under)", "score", "evidence", "better", "needs", "study: vs probe accuracy",
                "vs detection mAP", "across families", "ranks"):
        table.add_column(col)
    for s in scores.specs():
        names = [f"{m}.{s.name}" for m in scores.SCORED_MAPS] if s.per_map else [s.name]
        metric = ", ".join(n for n in names if n in gates) or f"({s.name}: no gate)"
        needs = ", ".join(f"--{k.replace('_', '-')}" for k in scores.enabled_by(s)) or "every run"
        vs_labels, vs_boxes = (validated.status(s.name, kind, study) or "-" for kind in ("labels", "boxes"))
        scope = {"across": "supported", "within": "not supported"}.get(validated.zoo_scope(s.name, study), "-")
        table.add_row(metric, s.title, s.tier, "higher" if s.higher_is_better else "lower", needs, vs_labels,
                      vs_boxes, scope, _ranks(s, study))
    console = Console(highlight=False)
    console.print(table)
    console.print(f"\n{scores.PRIMARY}: whatever score the verdict ranked by. A score ranks only as its "
                  "evidence allows: boxes > labels > label-free (docs/evidence.md).")


def _ranks(spec, study: dict) -> str:
    """When a score may rank the backbones (``registry.ranking_order`` and ``validated``)."""
    from bbselect.scoring import validated

    if spec.ranks and spec.tier in ("detection", "labels"):
        return "yes: it is the ground truth"
    if spec.ranks and spec.last_resort:
        return "last resort, marked unsupported"
    if spec.ranks:
        return "yes, without labels or boxes" if validated.label_free(spec.name, study)["supported"] else "no"
    if spec.tier == "boxes" and not spec.per_map and validated.status(spec.name, "boxes", study) == "supported":
        return "with boxes, when the detection probe does not run"
    return "no"


def show_config(write_to: Path | None) -> None:
    """Print the annotated default config (every key, type, default, meaning), or write it to a file."""
    from bbselect.config.starter import starter_text

    text = starter_text()
    if write_to is None:
        click.echo(text, nl=False)
        return
    if write_to.exists():
        raise UsageError(f"{write_to} exists; not overwriting it")
    write_to.write_text(text, encoding="utf-8")
    click.echo(f"wrote {write_to}; edit it, then: bbselect run {write_to}", err=True)


