"""The command-line options of ``compare`` and ``run``, generated from the config schema."""

from __future__ import annotations

import functools
import os
from dataclasses import fields

import click

from bbselect.config.schema import CompareConfig

_D = CompareConfig()


def schema_options() -> list:
    """One click option per ``CompareConfig`` field that has help: defaults, help texts, metavars,
    choices and integer ranges all come from the schema (config/schema.py), so an option is added in
    one place."""
    from bbselect.config.values import KINDS

    out = []
    for f in fields(CompareConfig):
        meta = f.metadata
        if not meta.get("help"):
            continue
        flag = "--" + f.name.replace("_", "-")
        decls = list(meta.get("flags") or (flag,))
        kw = {"help": meta["help"], "metavar": meta.get("metavar")}
        default = getattr(_D, f.name)
        kind = KINDS[f.name]
        if kind == "bool":
            decls = [f"{flag}/--no-{flag[2:]}"]
            kw.update(default=default, show_default=True)
        elif kind == "list":
            kw["multiple"] = True
            if default:
                kw["help"] += f" [default: {', '.join(default)}]"
        else:
            kw["default"] = default
            kw["show_default"] = default is not None
            if kind == "int":
                kw["type"] = int
                if meta.get("range"):  # declared in the schema; checked there too (config/rules.py)
                    kw["help"] += f" [range: {meta['range'].text()}]"
            if meta.get("choices"):
                kw["type"] = click.Choice(meta["choices"])
                kw.pop("metavar")
        out.append(click.option(*decls, f.name, **kw))
    return out


def shared_options(f):
    """The options shared by ``compare`` and ``run`` (each is also a YAML key of the same name)."""
    opts = [
        *schema_options(),
        click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                     help="json: print one machine-readable summary to stdout (logs stay on stderr)."),
        click.option("-q", "--quiet", is_flag=True, help="No progress output; errors only."),
        click.option("-v", "--verbose", is_flag=True, callback=_verbose, expose_value=False, is_eager=True,
                     help="Also show TensorFlow's own messages."),
    ]
    return functools.reduce(lambda acc, opt: opt(acc), reversed(opts), f)


def _verbose(ctx, param, value):
    if value:
        os.environ["BBSELECT_TF_VERBOSE"] = "1"
    return value
