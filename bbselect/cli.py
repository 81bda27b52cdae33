"""The thin click layer: parse options, call the pipeline, turn user errors into clean messages."""

from __future__ import annotations

import sys

import click

from . import __version__, registry
from .config import FIGURE_CHOICES, CompareConfig
from .errors import BBSelectError
from .images import DEFAULT_MAX_PIXELS, RESIZE_MODES

_D = CompareConfig()


def _fail(err: BBSelectError) -> click.ClickException:
    exc = click.ClickException(str(err))
    exc.exit_code = err.exit_code
    return exc


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="bbselect")
def main():
    """Pick the CNN backbone that suits your images before you train a detector on it.

    \b
    bbselect compare [IMAGES]     run backbones over a folder; figures + scored report
    bbselect backbones            list the backbones bbselect knows
    bbselect layers BACKBONE      list a backbone's layers, stages (c2..c5) and strides
    """


@main.command()
@click.argument("images", required=False, type=click.Path(file_okay=True, dir_okay=True, path_type=str))
@click.option("-b", "--backbone", "backbones", multiple=True, metavar="NAME[:k=v,...]",
              help=f"Backbone to compare; repeat for several. Options after a colon, e.g. "
                   f"mobilenet:alpha=0.25 or resnet50:layer=c4. "
                   f"[default: {', '.join(registry.DEFAULT_BACKBONES)}]")
@click.option("--layer", default=_D.layer, show_default=True, metavar="STAGE|LAYER",
              help="Feature layer: a stage c2..c5 (stride 4..32, the last layer at that stride) or a raw "
                   "Keras layer name (see `bbselect layers`).")
@click.option("--weights", default=_D.weights, show_default=True, metavar="imagenet|none|PATH",
              help="imagenet: Keras' pretrained weights ($KERAS_HOME/models, downloaded on first use); "
                   "none: random init (outputs are marked RANDOM WEIGHTS); PATH: a local .h5 file "
                   "(one backbone).")
@click.option("--input-size", default=_D.input_size, show_default=True, type=int,
              help="Network input side in pixels (multiple of 32).")
@click.option("--resize", default=_D.resize, show_default=True, type=click.Choice(RESIZE_MODES),
              help="stretch: squash to size x size (classifier style). letterbox: keep aspect ratio, "
                   "longest side = size, pad (detector style); maps are cropped to the image area.")
@click.option("--batch-size", default=_D.batch_size, show_default=True, type=int, help="Images per forward pass.")
@click.option("-o", "--output", default=_D.output, show_default=True, type=click.Path(file_okay=False),
              help="Folder that receives run folders.")
@click.option("--name", default=None, help="Run folder name [default: the images folder's name]. An existing "
                                           "run is never overwritten: NAME-2, NAME-3... are used instead.")
@click.option("--figures", default=_D.figures, show_default=True, metavar="all|none|N",
              help=f"Per-image figures to draw: {FIGURE_CHOICES}. Contact sheets and charts are always drawn.")
@click.option("--overlay", is_flag=True, help="Draw maps over the input image in per-image figures.")
@click.option("--strict", is_flag=True, help="Stop at the first unreadable image instead of skipping it.")
@click.option("--seed", default=_D.seed, show_default=True, type=int, help="Seed for random weights.")
@click.option("--max-pixels", default=DEFAULT_MAX_PIXELS, show_default=True, type=int,
              help="Skip images larger than this many pixels (decompression-bomb guard).")
@click.option("-q", "--quiet", is_flag=True, help="No progress output; errors only.")
def compare(images, backbones, quiet, **opts):
    """Run backbones over IMAGES (a folder, searched recursively; default: ./images) and write
    per-image figures (rows = backbones; columns = input | max | mean | sum), contact sheets,
    maps, scores and a ranked report to results/<name>/.

    \b
    Examples:
      bbselect compare                                   # bundled images/, vgg16 resnet50 mobilenetv2
      bbselect compare photos/ -b resnet50 -b mobilenetv2 --layer c4
      bbselect compare photos/ --resize letterbox --input-size 512
      bbselect compare photos/ --weights none        # offline pipeline check, random weights
    """
    from .config import default_images_dir
    from .pipeline import compare as run_compare

    cfg = CompareConfig(
        images=images or str(default_images_dir()),
        backbones=list(backbones) or list(registry.DEFAULT_BACKBONES),
        **opts,
    )
    try:
        run_compare(cfg, quiet=quiet, argv=sys.argv)
    except BBSelectError as err:
        raise _fail(err) from None
    except KeyboardInterrupt:
        raise click.ClickException("interrupted") from None


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
def layers(backbone, input_size, show_all):
    """List BACKBONE's layers with output shape and stride; mark stages c2..c5 (built with random
    weights, nothing is downloaded)."""
    from .weights import build_backbone

    try:
        sel = registry.parse_selection(backbone)
        model, _ = build_backbone(sel, "none", input_size)
    except BBSelectError as err:
        raise _fail(err) from None
    stages = {v: k for k, v in registry.find_stages(model).items()}
    rows = registry.spatial_layers(model)
    click.echo(f"{sel.label} at {input_size}x{input_size}  ({len(model.layers)} layers)")
    click.echo(f"{'stage':5s}  {'stride':>6s}  {'output shape':>18s}  layer")
    prev = None
    for name, shape, stride in rows:
        if show_all or name in stages or stride != prev:
            click.echo(f"{stages.get(name, ''):5s}  {stride:>6d}  {str(shape[1:]):>18s}  {name}")
        prev = stride
    click.echo(f"\ndefault layer: {registry.DEFAULT_STAGE} = {registry.find_stages(model).get(registry.DEFAULT_STAGE)}")


if __name__ == "__main__":  # pragma: no cover
    main()
