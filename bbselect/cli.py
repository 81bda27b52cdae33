"""The thin click layer: parse options, call the pipeline, turn user errors into clean messages."""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from pathlib import Path

import click

from . import __version__, registry
from .cache import DEFAULT_MAX_MB
from .config import FIGURE_CHOICES, CompareConfig
from .errors import BBSelectError, UsageError
from .images import DEFAULT_MAX_PIXELS, RESIZE_MODES

_D = CompareConfig()


def _options(f):
    """The options shared by ``compare`` and ``run`` (each is also a YAML key of the same name)."""
    opts = [
        click.option("-b", "--backbone", "backbones", multiple=True, metavar="NAME[:k=v,...]",
                     help="Backbone to compare; repeat for several. Options after a colon, e.g. "
                          "mobilenet:alpha=0.25 or resnet50:layer=c4. "
                          f"[default: {', '.join(registry.DEFAULT_BACKBONES)}]"),
        click.option("--layer", default=_D.layer, show_default=True, metavar="STAGE|LAYER",
                     help="Feature layer: a stage c2..c5 (stride 4..32, the last layer at that stride) or a "
                          "raw Keras layer name (see `bbselect layers`)."),
        click.option("--weights", default=_D.weights, show_default=True, metavar="imagenet|none|PATH",
                     help="imagenet: Keras' pretrained weights ($KERAS_HOME/models, downloaded on first use); "
                          "none: random init (outputs are marked RANDOM WEIGHTS); PATH: a local .h5 file."),
        click.option("--input-size", default=_D.input_size, show_default=True, type=int,
                     help="Network input side in pixels (multiple of 32)."),
        click.option("--resize", default=_D.resize, show_default=True, type=click.Choice(RESIZE_MODES),
                     help="stretch: squash to size x size (classifier style). letterbox: keep aspect ratio, "
                          "longest side = size, pad (detector style); maps are cropped to the image area."),
        click.option("--batch-size", default=_D.batch_size, show_default=True, type=int,
                     help="Images per forward pass."),
        click.option("-o", "--output", default=_D.output, show_default=True, type=click.Path(),
                     help="Folder that receives run folders."),
        click.option("--name", default=None, help="Run folder name [default: the images folder's name]. An "
                     "existing run is never overwritten: NAME-2, NAME-3... are used instead."),
        click.option("--figures", default=_D.figures, show_default=True, metavar="all|none|N",
                     help=f"Per-image figures to draw: {FIGURE_CHOICES}. Drawing is a fixed cost of every run "
                          "(~0.3 s a figure), so the default is a sample; contact sheets (first 24 images) "
                          "and charts are drawn unless none."),
        click.option("--overlay/--no-overlay", default=False, help="Draw maps over the input image in per-image figures."),
        click.option("--strict/--no-strict", default=False, help="Stop at the first unreadable image instead of skipping it."),
        click.option("--seed", default=_D.seed, show_default=True, type=int, help="Seed for random weights."),
        click.option("--max-pixels", default=DEFAULT_MAX_PIXELS, show_default=True, type=int,
                     help="Skip images larger than this many pixels (decompression-bomb guard)."),
        click.option("--labels", default=_D.labels, show_default=True, metavar="auto|none|FILE.csv",
                     help="Class labels for label-aware scores: auto = class sub-folders if every image is "
                          "in one; FILE.csv with columns image,label; none = off."),
        click.option("--boxes", default=_D.boxes, show_default=True, metavar="auto|none|PATH",
                     help="Box annotations for box-aware scores: auto = YOLO .txt / VOC .xml / COCO .json "
                          "found next to the images; PATH = a COCO file or a folder of per-image files."),
        click.option("--cache/--no-cache", default=True, show_default=True,
                     help="Reuse maps computed earlier for the same image content and settings."),
        click.option("--cache-dir", default=None, metavar="DIR",
                     help="Cache folder [default: $BBSELECT_CACHE, else ~/.cache/bbselect]."),
        click.option("--cache-max-mb", default=DEFAULT_MAX_MB, show_default=True, type=int,
                     help="Cache size cap; least recently used maps are deleted beyond it."),
        click.option("--shard", default=None, metavar="I/N",
                     help="Process only shard I of N (stable hash of each image's relative path); "
                          "combine shard runs with `bbselect merge`."),
        click.option("--fail-under", "fail_under", multiple=True, metavar="METRIC=VALUE",
                     help="Quality gate (repeatable): exit 1 if the top-ranked backbone's METRIC is below VALUE. "
                          "Metrics: separation, max.otsu, mean.concentration, ..., effective_rank."),
        click.option("--expect-best", default=None, metavar="BACKBONE",
                     help="Quality gate: exit 1 unless BACKBONE is ranked first (or tied with the first)."),
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


def _echo_outcome(outcome, fmt: str) -> None:
    if fmt == "json":
        from .machine import ci_summary

        click.echo(json.dumps(ci_summary(outcome.summary, str(outcome.run_dir), outcome.exit_code), indent=2,
                              default=str).replace("NaN", "null"))
    sys.exit(outcome.exit_code)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _guard(fmt_key: str = "fmt"):
    """Run a command body; show user errors as clean messages with their exit code (JSON when asked)."""

    def deco(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            fmt = kwargs.get(fmt_key, "text")
            signal.signal(signal.SIGTERM, _interrupt)  # `kill` ends as cleanly as Ctrl-C
            try:
                return f(*args, **kwargs)
            except BBSelectError as err:
                if fmt == "json":
                    from .machine import ci_error

                    click.echo(json.dumps(ci_error(str(err), err.exit_code), indent=2))
                click.echo(f"Error: {err}", err=True)
                sys.exit(err.exit_code)
            except KeyboardInterrupt:
                click.echo("\ninterrupted: finished images are kept; resume with "
                           "`bbselect compare --resume RUN_DIR` (or re-run: cached maps are reused)", err=True)
                sys.exit(130)

        return wrapper

    return deco


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="bbselect")
def main():
    """Pick the CNN backbone that suits your images before you train a detector on it.

    \b
    bbselect compare [IMAGES]     run backbones over a folder; figures + scored report
    bbselect run CONFIG.yaml      the same from a YAML file, with sweeps
    bbselect report RUN_DIR       re-render figures and reports from saved maps
    bbselect merge RUN_DIR...     combine shard runs into one report
    bbselect backbones            list the backbones bbselect knows
    bbselect layers BACKBONE      list a backbone's layers, stages (c2..c5) and strides
    """


@main.command()
@click.argument("images", required=False, type=click.Path(path_type=str))
@_options
@click.option("--resume", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Continue an interrupted run in RUN_DIR with its saved settings; finished images are kept.")
@_guard()
def compare(images, backbones, quiet, fmt, resume, **opts):
    """Run backbones over IMAGES (a folder, searched recursively; default: ./images) and write
    per-image figures (rows = backbones; columns = input | max | mean | sum), contact sheets,
    maps, scores and a ranked report to results/<name>/.

    \b
    Examples:
      bbselect compare                                   # bundled images/, vgg16 resnet50 mobilenetv2
      bbselect compare photos/ -b resnet50 -b mobilenetv2 --layer c4
      bbselect compare photos/ --resize letterbox --input-size 512
      bbselect compare photos/ --weights none            # offline pipeline check, random weights
      bbselect compare photos/ --format json --fail-under separation=0.3 --expect-best resnet50
    """
    from .config import default_images_dir
    from .pipeline import compare as run_compare
    from .pipeline import read_config

    if resume is not None:
        cfg = read_config(resume)
    else:
        opts["fail_under"] = list(opts["fail_under"])
        cfg = CompareConfig(images=images or str(default_images_dir()),
                            backbones=list(backbones) or list(registry.DEFAULT_BACKBONES), **opts)
    _echo_outcome(run_compare(cfg, quiet=quiet, argv=sys.argv, resume=resume), fmt)


@main.command()
@click.argument("config_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a YAML key; VALUE is parsed as YAML (--set backbones=[vgg16,resnet50], "
                   "--set sweep.layer=[c4,c5]). Repeatable.")
@_options
@click.pass_context
@_guard()
def run(ctx, config_file, sets, backbones, fmt, quiet, **opts):
    """Run the comparison described by CONFIG_FILE (YAML; every `compare` option is a key of the
    same name, see configs/default.yaml). Any key listed under `sweep:` expands to one run per
    point of the cartesian product, in results/<name>/<point>/, with a summary and index.html.

    \b
    Precedence: option typed here > --set KEY=VALUE > the YAML file > built-in defaults.
    Examples:
      bbselect run configs/detector-512.yaml --set images=photos/
      bbselect run configs/quick-ci.yaml --format json --weights none
      bbselect run results/photos/config.yaml          # repeat a finished run
    """
    from click.core import ParameterSource

    from . import configfile, configvalues, rundir, sweeppoints
    from .config import default_images_dir, resolve
    from .pipeline import compare as run_compare
    from .sweep import run_sweep

    if not config_file.is_file():
        raise UsageError(f"config file {config_file} does not exist")
    opts["backbones"] = backbones
    cli = {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.items()
           if k in configvalues.KINDS and ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE}
    loaded = configfile.build_config(config_file, list(sets), cli)
    base = loaded.base
    if loaded.source["images"] == "default":
        base.images = str(default_images_dir())
    gates_ = loaded.gates
    if "fail_under" in gates_ and loaded.source["fail_under"] == "default":
        fu = gates_["fail_under"]
        base.fail_under = [f"{k}={v}" for k, v in fu.items()] if isinstance(fu, dict) else list(fu)
    if "expect_best" in gates_ and loaded.source["expect_best"] == "default":
        base.expect_best = str(gates_["expect_best"])
    for note in loaded.notes:
        click.echo(f"note: {note}", err=True)
    points = sweeppoints.expand_sweep(base, loaded.sweep)
    for _, cfg in points:
        resolve(cfg)  # every point is checked before any runs
    if not loaded.sweep:
        _echo_outcome(run_compare(points[0][1], quiet=quiet, argv=sys.argv), fmt)
        return
    parent = rundir.claim_run_dir(Path(base.output), base.name or config_file.stem)
    rundir.atomic_write_text(parent / "sweep.yaml", configfile.dump_config(base, loaded.sweep, loaded.gates))
    _, outcomes = run_sweep(points, parent, loaded.sweep, quiet=quiet,
                            run_point=lambda cfg: run_compare(cfg, quiet=quiet, argv=sys.argv))
    code = max(o.exit_code for o in outcomes)
    if not quiet:
        click.echo(f"sweep done: {parent / 'index.html'}", err=True)
    if fmt == "json":
        from .machine import ci_summary

        doc = {"schema_version": 1, "status": "ok" if code == 0 else "gate_failed", "exit_code": code,
               "sweep_dir": str(parent),
               "points": [ci_summary(o.summary, str(o.run_dir), o.exit_code) for o in outcomes]}
        click.echo(json.dumps(doc, indent=2, default=str))
    sys.exit(code)


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--figures", default=None, metavar="all|none|N", help="Override the run's --figures.")
@click.option("--overlay/--no-overlay", default=None, help="Override the run's --overlay.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@_guard()
def report(run_dir, figures, overlay, fmt, quiet):
    """Re-render RUN_DIR's figures and reports from its saved maps (no model is built)."""
    from .pipeline import report as run_report

    _echo_outcome(run_report(run_dir, figures=figures, overlay=overlay, quiet=quiet), fmt)


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", default=_D.output, show_default=True, type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Merged run folder name [default: <first run>-merged].")
@click.option("--fail-under", "fail_under", multiple=True, metavar="METRIC=VALUE",
              help="Quality gate on the merged scores (as for compare).")
@click.option("--expect-best", default=None, metavar="BACKBONE", help="Quality gate (as for compare).")
@click.option("--figures", default=None, metavar="all|none|N", help="Override the shards' --figures.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@_guard()
def merge(run_dirs, output, name, fail_under, expect_best, figures, fmt, quiet):
    """Combine shard runs (`compare --shard I/N`) into one run and report; its scores equal an
    unsharded run's. Gates given here apply to the merged scores (the shards' own gates are kept
    otherwise)."""
    from .pipeline import merge as run_merge

    overrides = {k: v for k, v in (("fail_under", list(fail_under)), ("expect_best", expect_best),
                                   ("figures", figures)) if v}
    _echo_outcome(run_merge(list(run_dirs), output, name, quiet=quiet, overrides=overrides), fmt)


@main.command()
def backbones():
    """List the backbones bbselect knows, with their options."""
    for name, spec in registry.REGISTRY.items():
        opts = ", ".join(
            f"{k}={o.default}" + (f" ({'|'.join(map(str, o.choices))})" if o.choices else "")
            for k, o in spec.options.items()
        )
        mark = "*" if name in registry.DEFAULT_BACKBONES else " "
        click.echo(f"{mark} {name:20s} {spec.constructor:18s} {opts}")
    click.echo("\n* = default. Select options with NAME:key=value (e.g. mobilenet:alpha=0.25).")


@main.command()
@click.argument("backbone", metavar="BACKBONE[:k=v,...]")
@click.option("--input-size", default=_D.input_size, show_default=True, type=int)
@click.option("--all", "show_all", is_flag=True, help="List every layer, not only those that change the stride.")
@_guard()
def layers(backbone, input_size, show_all):
    """List BACKBONE's layers with output shape and stride; mark stages c2..c5 (built with random
    weights, nothing is downloaded)."""
    from .weights import build_backbone

    sel = registry.parse_selection(backbone)
    model, _ = build_backbone(sel, "none", input_size)
    stages = {v: k for k, v in registry.find_stages(model).items()}
    click.echo(f"{sel.label} at {input_size}x{input_size}  ({len(model.layers)} layers)")
    click.echo(f"{'stage':5s}  {'stride':>6s}  {'output shape':>18s}  layer")
    prev = None
    for name, shape, stride in registry.spatial_layers(model):
        if show_all or name in stages or stride != prev:
            click.echo(f"{stages.get(name, ''):5s}  {stride:>6d}  {str(shape[1:]):>18s}  {name}")
        prev = stride
    click.echo(f"\ndefault layer: {registry.DEFAULT_STAGE} = {registry.find_stages(model).get(registry.DEFAULT_STAGE)}")


if __name__ == "__main__":  # pragma: no cover
    main()
