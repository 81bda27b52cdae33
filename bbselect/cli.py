"""The thin click layer: parse options, call the pipeline, turn user errors into clean messages."""

from __future__ import annotations

import functools
import json
import signal
import sys
from pathlib import Path

import click
from click.core import ParameterSource

from bbselect import __version__
from bbselect.cli_options import shared_options
from bbselect.config.schema import CompareConfig
from bbselect.errors import EXIT_CODES_HELP, INTERNAL_ERROR, BBSelectError, UsageError
from bbselect.models import registry


def _echo_outcome(outcome, fmt: str, quiet: bool = False) -> None:
    """JSON mode: the machine summary on stdout. Text mode: the headline, a compact ranking table and
    the report's path (nothing with -q)."""
    if fmt == "text" and not quiet:
        from bbselect.reports.render import with_timing
        from bbselect.reports.terminal import print_result

        print_result(with_timing(outcome.summary), outcome.run_dir / "report.html")
    if fmt == "json":
        from bbselect.reports.machine import ci_summary

        click.echo(json.dumps(ci_summary(outcome.summary, str(outcome.run_dir), outcome.exit_code), indent=2,
                              default=str).replace("NaN", "null"))
    sys.exit(outcome.exit_code)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _fail(message: str, code: int, fmt: str):
    """Print an error (and its JSON envelope under --format json) and exit with ``code``."""
    if fmt == "json":
        from bbselect.reports.machine import ci_error

        click.echo(json.dumps(ci_error(message, code), indent=2))
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


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
                _fail(str(err), err.exit_code, fmt)
            except KeyboardInterrupt:
                click.echo("\ninterrupted: finished images are kept; resume with "
                           "`bbselect compare --resume RUN_DIR` (or re-run: cached maps are reused)", err=True)
                sys.exit(130)
            except (click.ClickException, click.exceptions.Exit, click.Abort):
                raise
            except Exception as err:  # a bug: exit 70 and the traceback in a log file, never on the terminal
                from bbselect.store.rundir import write_crash_log

                log_path = write_crash_log(err, f"bbselect {__version__}\ncommand: {' '.join(sys.argv)}")
                _fail(f"internal error (a bug in bbselect): {type(err).__name__}: {err}; traceback in {log_path}",
                      INTERNAL_ERROR, fmt)

        return wrapper

    return deco


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="bbselect")
def main():
    """Pick the CNN backbone that suits your images before you train a detector on it.

    \b
    bbselect compare [IMAGES]     run backbones over a folder; figures + scored report
    bbselect run CONFIG.yaml      the same from a YAML file, with sweeps
    bbselect report RUN_DIR       re-render figures and reports from saved maps
    bbselect merge RUN_DIR...     combine shard runs into one report
    bbselect backbones            list the backbones bbselect knows
    bbselect scores               list the scores: gate names, needs, what the study says
    bbselect layers BACKBONE      list a backbone's layers, stages (c2..c5) and strides
    """


_RESUME_OK = {"resume", "quiet", "fmt", "verbose"}  # the only options --resume takes besides its folder


@main.command()
@click.argument("images", required=False, type=click.Path(path_type=str))
@shared_options
@click.option("--resume", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Continue an interrupted run in RUN_DIR with its saved settings (other options are refused); "
                   "finished images are kept unless their maps are damaged or the image changed.")
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
    from bbselect.config.schema import default_images_dir
    from bbselect.runs import app

    if resume is not None:
        ctx = click.get_current_context()
        given = [p for p in ctx.command.params if p.name not in _RESUME_OK
                 and ctx.get_parameter_source(p.name) == ParameterSource.COMMANDLINE]
        if given:
            names = ", ".join(p.opts[-1] if isinstance(p, click.Option) else p.human_readable_name for p in given)
            raise UsageError(f"--resume continues {resume} with its saved settings (config.yaml); remove {names}, "
                             "or start a new run with them")
        _echo_outcome(app.resume(resume, quiet=quiet, argv=sys.argv), fmt, quiet)
    opts["fail_under"] = list(opts["fail_under"])
    cfg = CompareConfig(images=images or str(default_images_dir()),
                        backbones=list(backbones) or list(registry.DEFAULT_BACKBONES), **opts)
    _echo_outcome(app.compare(cfg, quiet=quiet, argv=sys.argv), fmt, quiet)


@main.command()
@click.argument("config_file", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a YAML key; VALUE is parsed as YAML (--set backbones=[vgg16,resnet50], "
                   "--set sweep.layer=[c4,c5]). Repeatable.")
@shared_options
@click.pass_context
@_guard()
def run(ctx, config_file, sets, backbones, fmt, quiet, **opts):
    """Run the comparison described by CONFIG (a YAML file, or the name of a shipped example:
    default, detector-512, quick-ci, sweep-sizes; every `compare` option is a key of the same name,
    see `bbselect config`). Any key listed under `sweep:` expands to one run per point of the
    cartesian product, in results/<name>/<point>/, with a summary and index.html.

    \b
    Precedence: option typed here > --set KEY=VALUE > the YAML file > built-in defaults.
    Examples:
      bbselect run detector-512 --set images=photos/     # a shipped config, by name
      bbselect run configs/quick-ci.yaml --format json --weights none
      bbselect run results/photos/config.yaml          # repeat a finished run
    """
    from bbselect.config import values as configvalues
    from bbselect.runs import app

    opts["backbones"] = backbones
    cli = {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.items()
           if k in configvalues.KINDS and ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE}
    done = app.run_config(config_file, sets, cli, quiet=quiet, argv=sys.argv,
                          notify=lambda note: click.echo(f"note: {note}", err=True))
    if done.parent is None:
        _echo_outcome(done.outcomes[0], fmt, quiet)
    if not quiet:
        click.echo(f"sweep done: {done.parent / 'index.html'}", err=True)
    if fmt == "json":
        from bbselect.reports.machine import ci_sweep

        click.echo(json.dumps(ci_sweep(str(done.parent), done.outcomes, done.exit_code), indent=2, default=str))
    sys.exit(done.exit_code)


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--figures", default=None, metavar="all|none|N", help="Override the run's --figures.")
@click.option("--overlay/--no-overlay", default=None, help="Override the run's --overlay.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@_guard()
def report(run_dir, figures, overlay, fmt, quiet):
    """Re-render RUN_DIR's figures and reports from its saved maps (no model is built)."""
    from bbselect.runs import app

    _echo_outcome(app.report(run_dir, figures=figures, overlay=overlay, quiet=quiet), fmt, quiet)


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, metavar="SHARDS...")
@click.option("-o", "--output", default=CompareConfig.output, show_default=True, type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Merged run folder name [default: NAME-merged for the shards of "
              "OUTPUT/NAME/, else <first run>-merged].")
@click.option("--allow-partial", is_flag=True, help="Merge a set with missing shards (never one with duplicates, "
              "another N or other settings); the merged run and its report are marked PARTIAL.")
@click.option("--fail-under", "fail_under", multiple=True, metavar="METRIC=VALUE",
              help="Quality gate on the merged scores (as for compare).")
@click.option("--expect-best", default=None, metavar="BACKBONE", help="Quality gate (as for compare).")
@click.option("--figures", default=None, metavar="all|none|N", help="Override the shards' --figures.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@_guard()
def merge(run_dirs, output, name, allow_partial, fail_under, expect_best, figures, fmt, quiet):
    """Combine shard runs (`compare --shard I/N` or `--shard auto`) into one run and report; its scores
    equal an unsharded run's. SHARDS: the shard folders (results/NAME/shard-*), their parent folder
    (results/NAME) or a quoted glob. The set is checked first: the same N, the same settings, no shard
    twice, none missing (else exit 2). Gates given here apply to the merged scores (the shards' own
    gates are kept otherwise)."""
    from bbselect.runs import app

    overrides = {k: v for k, v in (("fail_under", list(fail_under)), ("expect_best", expect_best),
                                   ("figures", figures)) if v}
    _echo_outcome(app.merge(list(run_dirs), output, name, quiet=quiet, overrides=overrides,
                            allow_partial=allow_partial), fmt, quiet)


@main.command()
@click.argument("pattern", required=False, default="*")
@_guard()
def backbones(pattern):
    """List the backbones bbselect knows that match PATTERN (shell-style, e.g. 'res*'; default all):
    options, parameters and GFLOPs at 224 × 224 (whole network without its top), and whether the
    ImageNet weights are already in the local Keras cache ($KERAS_HOME/models).

    Costs are measured by building each backbone once with random weights (seconds for large ones),
    then remembered in the cache folder per Keras version; at most 6 unmeasured ones per call."""
    from bbselect.cli_info import list_backbones

    list_backbones(pattern)


@main.command()
@_guard()
def scores():
    """List every score bbselect computes: its --fail-under metric name, the kind of evidence, which way
    is better, the setting it needs, and what the validation studies say of it."""
    from bbselect.cli_info import list_scores

    list_scores()


@main.command("config")
@click.option("--write", "write_to", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a starter config file (every key at its default, with its meaning) here.")
@_guard()
def config_cmd(write_to):
    """Show every config key with its type, default and meaning (the keys of YAML files and the
    options of `bbselect compare`), or write them as a starter file to edit and pass to `bbselect run`."""
    from bbselect.cli_info import show_config

    show_config(write_to)


@main.command()
@click.argument("backbone", metavar="BACKBONE[:k=v,...]")
@click.option("--input-size", default=CompareConfig.input_size, show_default=True, type=int)
@click.option("--all", "show_all", is_flag=True, help="List every layer, not only those that change the stride.")
@_guard()
def layers(backbone, input_size, show_all):
    """List BACKBONE's layers with output shape and stride; mark stages c2..c5 (built with random
    weights, nothing is downloaded). BACKBONE may be a model file (PATH.keras); nested models' layers
    are listed with their path."""
    from bbselect.models import stages as st
    from bbselect.models.selection import parse_selection
    from bbselect.models.weights import build_backbone

    sel = parse_selection(backbone)
    model, _ = build_backbone(sel, "none", input_size)
    graph = st.trace(model, input_size)
    stages = {v: k for k, v in st.find_stages(graph).items()}
    click.echo(f"{sel.label} at {input_size}x{input_size}  ({len(graph.taps)} layers with feature maps)")
    click.echo(f"{'stage':5s}  {'stride':>6s}  {'output shape':>18s}  layer")
    prev = None
    for name, shape, stride in st.spatial_layers(graph):
        if show_all or name in stages or stride != prev:
            click.echo(f"{stages.get(name, ''):5s}  {stride:>6d}  {str(shape[1:]):>18s}  {name}")
        prev = stride
    choice = st.resolve_layer(graph, registry.DEFAULT_STAGE)
    click.echo(f"\ndefault layer: {registry.DEFAULT_STAGE} = {choice.name}" + (f" ({choice.note})" if choice.note else ""))


if __name__ == "__main__":  # pragma: no cover
    main()
