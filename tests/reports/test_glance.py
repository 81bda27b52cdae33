"""The answer at a glance: headline, label shortening, figure sampling, repeated timing."""

import statistics

import pytest

from bbselect import common
from bbselect.models import timing
from bbselect.reports import formats as fm
from bbselect.reports import headline as hl
from bbselect.reports import page
from bbselect.reports.sampling import figure_order


def _bb(label, rank, mean, lo, hi, gflops, tied=(), metric="detection mAP@0.5", ms=None):
    b = {"label": label, "rank": rank, "layer": "x", "stage": "c4",
         "primary": {"metric": metric, "mean": mean, "lo": lo, "hi": hi, "n": 40},
         "tied_with": list(tied), "cost": {"gflops": gflops, "params": 1000}, "weights": {"kind": "imagenet"}}
    if ms is not None:
        b["cost"]["ms_per_image"] = ms
    return b


def _summary(*bbs, random_weights=False):
    return {"run": {"n_images": 40, "random_weights": random_weights}, "backbones": list(bbs),
            "evidence": {"evidence": "boxes", "metric": bbs[0]["primary"]["metric"] if bbs else "x"}}


def test_headline_reads_any_primary_evidence_and_picks_the_cheapest_within_the_tie():
    s = _summary(_bb("resnet50", 1, 0.61, 0.55, 0.67, 7.8, tied=["mobilenetv2", "vgg16"]),
                 _bb("mobilenetv2", 2, 0.58, 0.52, 0.64, 0.6, tied=["resnet50"]),
                 _bb("vgg16", 3, 0.57, 0.50, 0.63, 30.7, tied=["resnet50"]),
                 _bb("tiny", 4, 0.20, 0.15, 0.25, 0.01))  # cheapest overall, but not tied with the best
    h = hl.headline(s)
    assert (h["best"], h["tied"], h["cheapest"]) == ("resnet50", ["mobilenetv2", "vgg16"], "mobilenetv2")
    assert h["metric"] == "detection mAP@0.5" and h["evidence"] == {"mean": 0.61, "lo": 0.55, "hi": 0.67}
    text = hl.headline_text(h)
    assert text.startswith("Recommended: resnet50 — detection mAP@0.5 0.610 [0.550, 0.670]")
    assert "tied with mobilenetv2, vgg16" in text and "cheapest among them: mobilenetv2 (0.6 vs 7.8 GFLOPs)" in text
    assert "tiny" not in text


def test_headline_when_the_best_is_cheapest_alone_random_or_unscorable():
    s = _summary(_bb("a", 1, 0.9, 0.85, 0.95, 1.0, tied=["b"]), _bb("b", 2, 0.88, 0.8, 0.9, 5.0, tied=["a"]))
    assert hl.headline(s)["cheapest"] is None
    assert "it is also the cheapest of them" in hl.headline_text(hl.headline(s))
    s = _summary(_bb("a", 1, 0.9, 0.85, 0.95, 1.0), _bb("b", 2, 0.5, 0.4, 0.6, 0.1), random_weights=True)
    text = hl.headline_text(hl.headline(s))
    assert text.startswith("RANDOM WEIGHTS — Recommended: a") and "no other backbone is tied" in text
    nan = float("nan")
    s = _summary(_bb("a", 1, nan, nan, nan, 1.0), _bb("b", 2, None, None, None, 1.0))
    assert hl.headline(s)["best"] is None and hl.headline_text(hl.headline(s)).startswith("No recommendation")


def test_headline_html_marks_up_the_same_parts_and_escapes():
    s = _summary(_bb("<x>", 1, 0.9, 0.85, 0.95, 1.0, tied=["mobilenet:alpha=0.25,layer=conv_pw_11_relu_long"]),
                 _bb("mobilenet:alpha=0.25,layer=conv_pw_11_relu_long", 2, 0.88, 0.8, 0.9, 0.5, tied=["<x>"]))
    out = page.headline_html(s)
    assert 'id="headline"' in out and "&lt;x&gt;" in out and "<x>" not in out
    # the long label is cut at the end, the full one is the tooltip
    assert 'title="mobilenet:alpha=0.25,layer=conv_pw_11_relu_long"' in out
    assert "mobilenet:alpha=0.25,layer=co…" in out


def test_shorten_end_never_cuts_the_middle():
    assert hl.shorten_end("mobilenet:alpha=0.25,layer=c4", 18) == "mobilenet:alpha=0…"
    assert len(hl.shorten_end("x" * 50, 10)) == 10
    assert hl.shorten_end("short", 10) == "short" and hl.shorten_end("a\n b", 10) == "a b"
    assert page.short_label("short") == "short"


def test_number_formats():
    assert fm.fmt_params(10864) == "10.9 k" and fm.fmt_params(23587712) == "23.6 M" and fm.fmt_params(12) == "12"
    assert common.fmt_value(0.81249) == "0.812" and common.fmt_value(0.0301) == "0.030" and common.fmt_value(12.34) == "12.3"
    assert common.fmt_value(None) == "n/a" and common.fmt_value(1234.5) == "1234"
    assert common.fmt_interval({"mean": 0.5, "lo": None, "hi": 0.6}) == "0.500"
    assert fm.fmt_ms({"ms_per_image": 4.61, "ms_lo": 4.5, "ms_hi": 5.52}) == "4.6 (4.5–5.5)"


def test_chance_comes_from_the_evidence_or_its_known_value():
    b = _bb("a", 1, 0.8, 0.7, 0.9, 1.0, metric="box AUROC")
    assert hl.chance_of(b) == 0.5
    b = _bb("a", 1, 0.8, 0.7, 0.9, 1.0, metric="linear-probe accuracy")
    b["labels"] = {"chance": 0.25}
    assert hl.chance_of(b) == 0.25
    b["primary"]["chance"] = 0.1
    assert hl.chance_of(b) == 0.1
    assert hl.chance_of(_bb("a", 1, 0.8, 0.7, 0.9, 1.0, metric="separation")) is None


def test_ranking_rows_merge_measured_speed_in_rank_order():
    s = _summary(_bb("b", 2, 0.5, 0.4, 0.6, 2.0), _bb("a", 1, 0.9, 0.85, 0.95, 1.0))
    s["timing"] = {"backbones": {"a": {"ms_per_image": 3.0, "ms_lo": 2.9, "ms_hi": 3.4}}}
    rows = hl.ranking_rows(s)
    assert [r["backbone"] for r in rows] == ["a", "b"]
    assert rows[0]["ms_per_image"] == 3.0 and rows[1]["ms_per_image"] is None and rows[0]["value"] == 0.9


def test_figure_order_is_stratified_by_class_boxes_first_and_deterministic():
    ims = [{"rel": f"{c}/{i}.jpg", "class": c} for c in ("cardboard", "glass", "metal") for i in range(10)]
    order = figure_order(ims)
    assert [im["class"] for im in order[:6]] == ["cardboard", "glass", "metal"] * 2
    assert sorted(im["rel"] for im in order) == sorted(im["rel"] for im in ims)  # nobody lost
    assert figure_order(list(reversed(ims))) == order
    # uneven classes: the small class runs out, the others go on
    order = figure_order([{"rel": "a/1", "class": "a"}] + [{"rel": f"b/{i}", "class": "b"} for i in range(3)])
    assert [im["rel"] for im in order] == ["a/1", "b/0", "b/1", "b/2"]
    # with boxes: annotated images first within their class; no classes: path order otherwise
    ims = [{"rel": f"{i}.jpg", "class": None} for i in range(5)]
    assert [im["rel"] for im in figure_order(ims, {"3.jpg": [[0, 0, 1, 1]], "4.jpg": []})][:2] == ["3.jpg", "0.jpg"]


def test_timing_is_the_median_of_k_batches_with_the_spread():
    # one slow outlier batch (another process, a cold kernel) must not decide ms/image
    got = timing.summarize([0.010, 0.005, 0.0051, 0.0049, 0.0052])  # seconds per image, one per batch
    assert got["ms_per_image"] == pytest.approx(5.1)
    assert (got["ms_lo"], got["ms_hi"]) == pytest.approx((4.9, 10.0)) and got["timed_batches"] == 5
    assert timing.summarize([])["timed_batches"] == 0


def test_top_up_times_extra_batches_only_when_the_run_had_fewer_than_k():
    ticks = iter(range(0, 100, 4))
    calls = []
    got = timing.top_up(lambda: calls.append(1), [0.5], k=4, budget_s=100, per=4, clock=lambda: next(ticks))
    assert got == [0.5, 1, 1, 1] and len(calls) == 3  # 4 s per batch of 4 images = 1 s per image
    assert timing.top_up(lambda: calls.append(1), [0.1] * 6, k=4) == [0.1] * 6 and len(calls) == 3
    assert statistics.median(got) == 1
    # a slow backbone stops at k_min timings once the budget is spent
    slow = iter(range(0, 100, 3))
    assert timing.top_up(lambda: None, [], k=5, k_min=3, budget_s=5, clock=lambda: next(slow)) == [3, 3, 3]


def test_sweep_index_uses_the_report_page_banner_readable_values_and_intervals():
    from bbselect.reports.sweep_index import render_index

    def row(point, mean, lo, hi, params, gflops):
        return {"point": point, "backbone": "mobilenet:alpha=0.25", "layer": "conv_pw_5_relu", "stage": point,
                "weights": "none", "metric": "separation", "primary": mean, "primary_lo": lo, "primary_hi": hi,
                "n_images": 48, "params": params, "gflops": gflops, "ms_per_image": 4.61,
                "report": f"{point}/report.html"}

    rows = [row("c3", 0.27, 0.25, 0.29, 10_864, 0.03), row("c4", 0.31, 0.30, 0.33, 50_000, 0.05),
            row("c5", 0.30, 0.28, 0.32, 218_544, 0.08)]
    out = render_index("sw", rows, ["score_vs_cost.png"], {"layer": ["c3", "c4", "c5"]})
    assert page.CSS in out and 'class="banner"' in out  # the report's stylesheet and banner
    assert "Swept layer: c3, c4, c5" in out and "{" not in out.split("</style>")[1]  # no raw JSON
    assert "10.9 k" in out and "219 k" in out and "10864" not in out  # formatted numbers
    assert "0.310 [0.300, 0.330]" in out  # intervals
    h = out[out.index('id="headline"'):out.index("</p>", out.index('id="headline"'))]
    assert "c4 · mobilenet:alpha=0.25" in h and "tied with" in h and "c5 · mobilenet:alpha=0.25" in h
    assert "c3 ·" not in h.split("tied with")[1]  # [0.25, 0.29] does not overlap [0.30, 0.33]
    assert 'tr class="best"' in out and 'href="c4/report.html"' in out
    rows[0]["weights"] = "imagenet"
    assert 'class="banner"' not in render_index("sw", rows, [], {"layer": ["c3"]})


def test_progress_one_rich_bar_on_a_terminal_lines_otherwise_nothing_when_quiet():
    import io

    from bbselect.progress import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    p = Progress("scores", 3, stream=tty, unit="maps")
    for _ in range(3):
        p.advance()
    p.close()
    text = tty.getvalue()
    assert "scores" in text and "3/3" in text and "maps/s" in text and "eta" in text and "0:00:0" in text
    pipe = io.StringIO()
    p = Progress("maps", 4, stream=pipe, every_s=3600)
    for _ in range(4):
        p.advance()
    assert pipe.getvalue().splitlines() == [pipe.getvalue().splitlines()[0]]  # only the final line
    assert pipe.getvalue().startswith("maps: 4/4 images (100%)")
    quiet = Tty()
    p = Progress("maps", 2, stream=quiet, quiet=True)
    p.advance(2)
    p.close()
    assert quiet.getvalue() == ""
