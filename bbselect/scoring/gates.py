"""Quality gates for CI: a failed gate makes the run exit with code 1.

``--fail-under METRIC=VALUE`` (repeatable): the top-ranked backbone — the one you would pick — must
reach VALUE on METRIC (see ``registry.gate_metrics()``): at least VALUE for a higher-is-better score, at
most VALUE for a lower-is-better one (``dead_fraction=0.1``: no more than 10 % dead channels), as the
score's registry entry declares. A metric that does not exist (all maps degenerate)
fails the gate. ``--expect-best BACKBONE``: BACKBONE (a label such as ``resnet50`` or
``mobilenet:alpha=0.25``) must be ranked first, or be tied with the first (overlapping 95% CIs).
Both can also be set in YAML under ``gates:`` (``fail_under: {separation: 0.3}``, ``expect_best: x``).
"""

from __future__ import annotations

from bbselect.common import did_you_mean
from bbselect.errors import UsageError
from bbselect.scoring import registry
from bbselect.scoring.registry import value


def parse_fail_under(items: list[str] | dict) -> dict[str, float]:
    pairs = items.items() if isinstance(items, dict) else (_split(i) for i in items)
    out = {}
    for metric, raw in pairs:
        if metric not in registry.gate_metrics():
            raise UsageError(
                f"--fail-under: unknown metric {metric!r}{did_you_mean(metric, registry.gate_metrics())}"
                + f" (metrics: {', '.join(registry.gate_metrics())})"
            )
        try:
            out[metric] = float(raw)
        except (TypeError, ValueError):
            raise UsageError(f"--fail-under {metric}={raw}: expected a number") from None
    return out


def _split(item: str) -> tuple[str, str]:
    metric, eq, raw = item.partition("=")
    if not eq:
        raise UsageError(f"--fail-under {item!r}: expected METRIC=VALUE, e.g. separation=0.3")
    return metric.strip(), raw.strip()


def evaluate(ordered: list[dict], fail_under: dict[str, float], expect_best: str | None) -> list[dict]:
    """One result per gate: {"gate", "passed", "detail"}; ``ordered`` is the ranked backbone list."""
    results = []
    top = ordered[0] if ordered else None
    for metric, threshold in fail_under.items():
        got = value(top, metric) if top else float("nan")
        higher = registry.higher_is_better(metric, top)
        passed = got == got and (got >= threshold if higher else got <= threshold)
        shown = "n/a" if got != got else f"{got:.4g}"
        results.append({
            "gate": f"fail_under {metric}={threshold:g}" + ("" if higher else " (at most: lower is better)"),
            "passed": passed,
            "detail": f"{top['label'] if top else 'no backbone'}: {metric} = {shown}",
        })
    if expect_best:
        labels = [b["label"] for b in ordered]
        if expect_best not in labels:
            raise UsageError(f"--expect-best {expect_best!r} is not one of the run's backbones "
                             f"({', '.join(labels)})")
        passed = bool(top) and (top["label"] == expect_best or expect_best in top["tied_with"])
        results.append({
            "gate": f"expect_best {expect_best}",
            "passed": passed,
            "detail": f"ranked first: {top['label'] if top else 'none'}"
                      + (f" (tied with {', '.join(top['tied_with'])})" if top and top["tied_with"] else ""),
        })
    return results
