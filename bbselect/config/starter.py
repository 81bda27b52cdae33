"""The annotated starter config: every setting at its default with its type, allowed values and meaning, generated
from the schema (``configs/default.yaml`` is this text; ``bbselect config`` prints it and
``bbselect config --write FILE`` saves it). A test keeps the shipped file equal to it."""

from __future__ import annotations

import textwrap
from dataclasses import MISSING, fields

import yaml

from bbselect.config.schema import CompareConfig
from bbselect.config.values import DECLARED, KINDS

HEADER = """\
# bbselect: every setting of a run, at its built-in default.
#
# Copy this file, keep the keys you want to change, and run it:
#     bbselect run my.yaml                       # the file
#     bbselect run my.yaml --set batch_size=4    # --set beats the file
#     bbselect run my.yaml --input-size 320      # an option typed on the command line beats both
# Keys are the `bbselect compare` option names with '-' -> '_'; an unknown key is an error.
# Two more keys (see configs/detector-512.yaml and configs/quick-ci.yaml):
#   sweep:  (alias grid:) key -> list of values; one run per combination, last key fastest
#   gates:  the quality gates as a group, e.g. {fail_under: {separation: 0.3}, expect_best: resnet50}
#
# Generated from bbselect/config/schema.py (the one list of settings); do not edit by hand.
"""
KIND_WORDS = {"str": "string", "optstr": "string or null", "int": "integer", "bool": "true/false",
              "list": "list of strings"}


def yaml_value(value) -> str:
    """One value as it reads in a YAML file (flow style; strings that would read as numbers quoted)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def kind_words(name: str) -> str:
    """``integer (32 to 4,096, a multiple of 32)``, ``one of auto | on | off``: the type and what the schema
    declares about the value alone."""
    meta, words = DECLARED[name], KIND_WORDS[KINDS[name]]
    if meta.get("choices"):
        return "one of " + " | ".join(meta["choices"])
    return f"{words} ({meta['range'].text()})" if meta.get("range") else words


def starter_text() -> str:
    out = [HEADER]
    for f in fields(CompareConfig):
        default = f.default if f.default is not MISSING else f.default_factory()
        meaning = f.metadata.get("doc") or f.metadata.get("help") or ""
        uses = sorted({k for rule in f.metadata["rules"] if not rule.world for k in rule.uses})
        meaning += f" Checked against: {', '.join(uses)}." if uses else ""
        out.append(f"\n# {f.name}: {kind_words(f.name)}, default {yaml_value(default)}\n")
        out += [f"#   {line}\n" for line in textwrap.wrap(meaning, 96)]
        out.append(f"{f.name}: {yaml_value(default)}\n")
    return "".join(out)
