"""figures.py: pure rendering into matplotlib Figures (no pyplot, no backend selection)."""

import io
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.text import Text

from bbselect.reports import charts, figures

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _image(h=60, w=90):
    rng = np.random.default_rng(1)
    return (rng.random((h, w, 3)) * 255).astype(np.uint8)


def _blob(h=5, w=7):
    y, x = np.mgrid[0:h, 0:w]
    return np.exp(-((y - 2.0) ** 2 + (x - 4.0) ** 2) / 4.0)


def _row(label="vgg16", random_weights=False, degenerate=None, limits=None):
    m = _blob()
    maps = {"max": 6 * m, "mean": m, "sum": 512 * m}
    return figures.MapRow(
        backbone=label, layer="block5_pool", stage="c5", random_weights=random_weights, maps=maps,
        limits=limits or {"max": (0.0, 6.0), "mean": (0.0, 1.0), "sum": (0.0, 512.0)},
        degenerate=degenerate or {"max": None, "mean": None, "sum": None},
    )


def _image_axes(fig):
    return [ax for ax in fig.axes if any(isinstance(a, AxesImage) for a in ax.get_children())]


def _texts(artist_owner):
    return [t.get_text() for t in artist_owner.findobj(Text)]


def _is_red(color) -> bool:
    r, g, b = to_rgb(color)
    return r > 0.6 and g < 0.25 and b < 0.25


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return buf.getvalue()


# --------------------------------------------------------------------------
# image_figure
# --------------------------------------------------------------------------

def test_image_figure_one_image_panel_per_row_and_column():
    fig = figures.image_figure(_image(), "cat.png", [_row("vgg16"), _row("resnet50"), _row("mobilenetv2")])
    assert isinstance(fig, Figure)
    assert len(_image_axes(fig)) == 3 * 4
    # every map panel (not the input) has its own colourbar, in an inset axes without an AxesImage
    with_cbar = [ax for ax in _image_axes(fig) if ax.images[-1].colorbar is not None]
    assert len(with_cbar) == 3 * 3
    for ax in with_cbar:
        cax = ax.images[-1].colorbar.ax
        assert cax in ax.child_axes and not cax.images
    assert _png(fig).startswith(PNG_SIGNATURE)


def test_image_figure_panel_titles_name_aggregation_and_map_size():
    fig = figures.image_figure(_image(), "cat.png", [_row()])
    titles = {ax.get_title() for ax in fig.axes}
    assert {"max · 5×7", "mean · 5×7", "sum · 5×7"} <= titles
    assert "cat.png" in fig.get_suptitle()


def test_image_figure_marks_random_weights_rows_in_red_and_only_those():
    fig = figures.image_figure(_image(), "cat.png", [_row("vgg16"), _row("mobilenetv2", random_weights=True)])
    inputs = sorted((ax for ax in _image_axes(fig) if ax.get_subplotspec().colspan.start == 0),
                    key=lambda ax: ax.get_subplotspec().rowspan.start)
    assert len(inputs) == 2
    pretrained, random_row = inputs
    assert "vgg16" in pretrained.get_ylabel() and "block5_pool (c5)" in pretrained.get_ylabel()
    assert not any("RANDOM WEIGHTS" in t for t in _texts(pretrained))
    badges = [t for t in random_row.findobj(Text) if "RANDOM WEIGHTS" in t.get_text()]
    assert badges, "the random-weights row must carry a RANDOM WEIGHTS label"
    # prominent: red box behind the text, and the row label itself red
    assert any(t.get_bbox_patch() is not None and _is_red(t.get_bbox_patch().get_facecolor()) for t in badges)
    assert _is_red(random_row.yaxis.label.get_color())


def test_image_figure_uses_given_shared_limits_not_the_data_range():
    limits = {"max": (-5.0, 10.0), "mean": (0.25, 0.5), "sum": (100.0, 900.0)}
    fig = figures.image_figure(_image(), "cat.png", [_row(limits=limits)])
    by_agg = {ax.get_title().split(" · ")[0]: ax for ax in _image_axes(fig)}
    for agg, (vmin, vmax) in limits.items():
        im = by_agg[agg].images[-1]
        assert (im.norm.vmin, im.norm.vmax) == (vmin, vmax)
        assert im.colorbar is not None  # the scale is visible on every panel


def test_image_figure_writes_degenerate_reason_over_the_still_drawn_panel():
    row = _row(degenerate={"max": "constant map (all 6)", "mean": None, "sum": None})
    row.maps["max"] = np.full((5, 7), 6.0)
    row.limits["max"] = (5.9, 6.1)
    fig = figures.image_figure(_image(), "cat.png", [row])
    by_agg = {ax.get_title().split(" · ")[0]: ax for ax in _image_axes(fig)}
    assert by_agg["max"].images, "a degenerate map is still drawn"
    assert any("degenerate" in t and "constant map (all 6)" in t for t in _texts(by_agg["max"]))
    assert not any("degenerate" in t for t in _texts(by_agg["mean"]))


def test_image_figure_overlay_draws_map_over_image_on_image_extent():
    img = _image(60, 90)
    fig = figures.image_figure(img, "cat.png", [_row()], overlay=True)
    maps_axes = [ax for ax in _image_axes(fig) if ax.get_subplotspec().colspan.start > 0]
    assert len(maps_axes) == 3
    for ax in maps_axes:
        photo, heat = ax.images
        assert photo.get_array().shape == img.shape
        assert heat.get_array().shape == (5, 7)
        assert heat.get_alpha() == pytest.approx(0.5)
        # (left, right, bottom, top): the 5x7 map is stretched over the 90-wide, 60-high image
        assert tuple(heat.get_extent()) == (0, 90, 60, 0)
    assert _png(fig).startswith(PNG_SIGNATURE)


def test_image_figure_without_overlay_has_only_the_map_in_map_panels():
    fig = figures.image_figure(_image(), "cat.png", [_row()])
    for ax in _image_axes(fig):
        assert len(ax.images) == 1


def test_image_figure_survives_nan_empty_and_constant_maps():
    row = _row(degenerate={"max": "non-finite values (35 of 35 pixels)", "mean": "too few pixels (0×0)",
                           "sum": "constant map (all 0)"})
    row.maps = {"max": np.full((5, 7), np.nan), "mean": np.empty((0, 0)), "sum": np.zeros((5, 7))}
    row.limits = {"max": (float("nan"), float("nan")), "mean": (0.0, 1.0), "sum": (0.0, 0.0)}
    fig = figures.image_figure(_image(), "weird.png", [row])
    assert len(_image_axes(fig)) == 4
    assert _png(fig).startswith(PNG_SIGNATURE)


def test_image_figure_needs_rows():
    with pytest.raises(ValueError):
        figures.image_figure(_image(), "cat.png", [])


# --------------------------------------------------------------------------
# contact_sheet
# --------------------------------------------------------------------------

def _sheet_inputs(n, backbones=("vgg16", "resnet50")):
    imgs = [(f"img{i:02d}.png", _image(40, 60)) for i in range(n)]
    maps = {b: [_blob() * (i + 1) for i in range(n)] for b in backbones}
    limits = {b: (0.0, float(n)) for b in backbones}
    return imgs, maps, limits


def test_contact_sheet_caps_rows_and_says_how_many_are_shown():
    imgs, maps, limits = _sheet_inputs(30)
    fig = figures.contact_sheet(imgs, maps, "max", limits, max_images=24)
    assert "showing 24 of 30" in fig.get_suptitle()
    assert len(_image_axes(fig)) == 24 * 3  # input + 2 backbones per shown image
    labels = {ax.get_ylabel() for ax in fig.axes}
    assert "img23.png" in labels and "img24.png" not in labels
    assert _png(fig).startswith(PNG_SIGNATURE)


def test_contact_sheet_total_counts_images_the_caller_did_not_pass():
    imgs, maps, limits = _sheet_inputs(24)
    fig = figures.contact_sheet(imgs, maps, "mean", limits, total=30)
    assert "showing 24 of 30" in fig.get_suptitle()


def test_contact_sheet_small_run_has_no_showing_note_and_uses_limits():
    imgs, maps, limits = _sheet_inputs(3)
    limits["vgg16"] = (-1.0, 2.0)
    fig = figures.contact_sheet(imgs, maps, "sum", limits, random_weights={"resnet50": True})
    assert "showing" not in fig.get_suptitle()
    assert "sum" in fig.get_suptitle()
    vgg_axes = [ax for ax in _image_axes(fig) if ax.get_subplotspec().colspan.start == 1]
    assert len(vgg_axes) == 3
    assert all((ax.images[0].norm.vmin, ax.images[0].norm.vmax) == (-1.0, 2.0) for ax in vgg_axes)
    red_headers = [t for t in fig.findobj(Text) if "RANDOM WEIGHTS" in t.get_text()]
    assert len(red_headers) == 1 and "resnet50" in red_headers[0].get_text() and _is_red(red_headers[0].get_color())


# --------------------------------------------------------------------------
# overview chart (the report's first screen)
# --------------------------------------------------------------------------

def _bb(label, rank, mean, lo, hi, gflops=4.1, random_weights=False, metric="separation", pareto=False, tied=()):
    return {"label": label, "rank": rank, "random_weights": random_weights, "pareto": pareto,
            "tied_with": list(tied), "primary": {"metric": metric, "mean": mean, "lo": lo, "hi": hi, "n": 8},
            "separation": {"mean": mean, "lo": lo, "hi": hi, "n": 8},
            "cost": {"ms_per_image": 50.0, "gflops": gflops, "params": 3_538_984}}


def test_overview_bars_with_ci_in_rank_order_and_a_sane_axis():
    fig = charts.overview_chart([_bb("resnet50", 2, 0.30, 0.25, 0.36), _bb("vgg16", 1, 0.40, 0.35, 0.45)])
    ax_s, ax_c = fig.axes[:2]
    widths = sorted(round(p.get_width(), 6) for p in ax_s.patches)
    assert widths == [0.30, 0.40]
    ticks = [t.get_text() for t in ax_s.get_yticklabels()]
    assert ticks[0].startswith("#1 vgg16") and "0.400 [0.350, 0.450]" in ticks[0] and ticks[1].startswith("#2 resnet50")
    assert ax_s.get_xlim() == (0.0, 1.0)  # a [0, 1] score on a [0, 1] axis, not 1.25
    assert "GFLOPs" in ax_c.get_xlabel() and ax_c.get_ylim() == (0.0, 1.0)
    assert not [ln for ln in ax_s.lines if ln.get_linestyle() == "--"]  # no chance line for separation
    assert _png(fig).startswith(PNG_SIGNATURE)


def test_overview_draws_chance_for_probe_accuracy_and_auroc():
    for metric, chance in (("linear-probe accuracy", 0.25), ("box AUROC", 0.5)):
        b = _bb("vgg16", 1, 0.8, 0.7, 0.9, metric=metric)
        b["labels"] = {"chance": 0.25}
        ax_s = charts.overview_chart([b]).axes[0]
        dashed = [ln for ln in ax_s.lines if ln.get_linestyle() == "--"]
        assert len(dashed) == 1 and dashed[0].get_xdata()[0] == chance
        assert ax_s.get_xlim() == (0.0, 1.0) and metric in ax_s.get_xlabel()


def test_overview_nan_and_null_evidence_do_not_crash_and_are_annotated():
    nan = float("nan")
    fig = charts.overview_chart([
        _bb("vgg16", 1, 0.4, 0.35, 0.45, pareto=True),
        _bb("mobilenetv2", 2, nan, nan, nan, random_weights=True),
        _bb("resnet50", 3, None, None, None, gflops=None),  # JSON null, as read back from scores.json
    ])
    ax_s, ax_c = fig.axes[:2]
    assert len(ax_s.patches) == 1
    assert sum("n/a (not scored)" in t for t in _texts(ax_s)) == 2
    assert any(t.get_color() == figures.RED for t in ax_s.get_yticklabels())  # random weights marked
    assert len([c for c in ax_c.collections if type(c).__name__ == "PathCollection"]) == 1  # one has both
    assert _png(fig).startswith(PNG_SIGNATURE)
    lo, hi = sorted(ax_s.get_ylim())
    assert lo <= -0.3 and hi >= 2.3, (lo, hi)


def test_overview_with_no_backbones_still_renders():
    assert _png(charts.overview_chart([])).startswith(PNG_SIGNATURE)


# --------------------------------------------------------------------------
# no global state
# --------------------------------------------------------------------------

def test_importing_and_drawing_does_not_touch_pyplot():
    code = ("import sys, numpy as np; from bbselect.reports import charts, figures as f; "
            "r = f.MapRow('a', 'l', None, False, {k: np.eye(4) for k in f.AGGREGATIONS}, "
            "{k: (0.0, 1.0) for k in f.AGGREGATIONS}, {}); "
            "fig = f.image_figure(np.zeros((8, 8, 3), np.uint8), 't', [r]); "
            "import io; fig.savefig(io.BytesIO(), format='png'); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_cost_chart_labels_of_clustered_backbones_do_not_overlap():
    """Seven backbones, four of them within a few percent in GFLOPs and score (a real zoo run): every
    point's rank label is drawn, inside the axes, over no other label and no other marker (#6 was hidden)."""
    pts = [(0.11, 0.430), (0.77, 0.423), (0.116, 0.409), (0.60, 0.401), (0.53, 0.393), (0.082, 0.388),
           (30.7, 0.213)]
    fig = charts.overview_chart([_bb(f"net{i}", i + 1, y, y - 0.02, y + 0.02, gflops=g)
                                 for i, (g, y) in enumerate(pts)])
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    ax_c = fig.axes[1]
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    labels = [t for t in ax_c.texts if t.get_text().startswith("#")]
    assert sorted(t.get_text() for t in labels) == [f"#{i}" for i in range(1, 8)]
    boxes = [t.get_window_extent(renderer) for t in labels]
    inside = ax_c.get_window_extent(renderer)
    assert all(inside.x0 <= b.x0 and b.x1 <= inside.x1 and inside.y0 <= b.y0 and b.y1 <= inside.y1 for b in boxes)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
    centres = ax_c.transData.transform(pts)  # no label sits on another backbone's marker
    for t, b in zip(labels, boxes):
        own = int(t.get_text()[1:]) - 1
        covered = [j for j, (x, y) in enumerate(centres) if j != own and b.x0 - 3 < x < b.x1 + 3 and b.y0 - 3 < y < b.y1 + 3]
        assert not covered, (t.get_text(), covered)


def test_the_cost_axis_of_close_gflops_has_few_ticks_written_as_the_tables_write_gflops():
    """Two small backbones (0.0131 and 0.015 GFLOPs) got nine ticks whose labels ran into each other
    ("0.013250.01350..."); now at most six, each as the tables write GFLOPs, and none overlapping."""
    from bbselect.reports.formats import FORMATS

    fig = charts.overview_chart([_bb("a", 1, 0.8, 0.75, 0.86, gflops=0.0131), _bb("b", 2, 0.7, 0.6, 0.8, gflops=0.015)])
    ax_c = fig.axes[1]
    fig.canvas.draw()
    lo, hi = ax_c.get_xlim()
    ticks = [(t, lab) for t, lab in zip(ax_c.get_xticks(), ax_c.get_xticklabels()) if lo <= t <= hi]
    assert 2 <= len(ticks) <= 6
    assert all(lab.get_text() == FORMATS["gflops"](t) for t, lab in ticks)
    boxes = sorted((lab.get_window_extent().x0, lab.get_window_extent().x1) for _, lab in ticks)
    assert all(a[1] <= b[0] for a, b in zip(boxes, boxes[1:]))  # no label runs into the next
