"""report_html / report_markdown / machine: HTML / Markdown / CSV renderings of the run summary."""

import copy
import csv
import io
import json
import math
import re
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest

from bbselect.reports import content as report_content
from bbselect.reports import html as report_html
from bbselect.reports import machine
from bbselect.scoring import registry
from bbselect.reports import markdown as report_markdown
from bbselect.scoring import mapscores, ranking

NAN = float("nan")


def _img_scores(otsu, top, conc, degenerate=None):
    return {"otsu": otsu, "top10_mass": top, "concentration": conc, "degenerate": degenerate}


def _backbone(label, layer, stage, rank, sep, random_weights=False, tied=()):
    def s(mean, lo, hi):
        return {"mean": mean, "lo": lo, "hi": hi, "n": 3, "n_missing": 0}

    return {
        "label": label, "name": label.split(":")[0], "options": {}, "layer": layer, "stage": stage,
        "map_shape": [7, 7], "channels": 512,
        "weights": {"kind": "none" if random_weights else "imagenet", "source": None, "md5": None, "seed": 0},
        "cost": {"params": 14_714_688, "gflops": 30.7, "ms_per_image": 85.1, "images_per_s": 11.7},
        "scores": {agg: {"otsu": s(0.61, 0.55, 0.66), "top10_mass": s(0.3, 0.2, 0.4),
                         "concentration": s(0.1, 0.05, 0.15)} for agg in ("max", "mean")},
        "degenerate": {"max": 0, "mean": 0},
        "separation": sep,
        "channels_stats": {"n_images": 3, "n_channels": 512, "dead_fraction": 0.12, "n_dead": 61,
                           "effective_rank": 5.3, "effective_rank_fraction": 0.76, "note": None},
        "limits": {"max": [0.0, 8.0], "mean": [0.0, 1.0], "sum": [0.0, 512.0]},
        "rank": rank, "tied_with": list(tied),
    }


def make_summary(names=("cat.png", "dog.png", "car.png"), random_weights=False, skipped=None, figure_paths=None):
    """A small, realistic summary as pipeline.compare builds it (two backbones, scored max/mean maps)."""
    backbones = [
        _backbone("vgg16", "block5_pool", "c5", 1, {"mean": 0.4, "lo": 0.35, "hi": 0.45, "n": 3, "n_missing": 0},
                  random_weights, tied=["mobilenet:alpha=0.25"]),
        _backbone("mobilenet:alpha=0.25", "out_relu", "c5", 2,
                  {"mean": 0.38, "lo": 0.30, "hi": 0.44, "n": 3, "n_missing": 0}, random_weights, tied=["vgg16"]),
    ]
    images = []
    for i, name in enumerate(names):
        images.append({
            "rel": name, "id": f"img-{i}",
            "figure": (figure_paths or {}).get(name, f"figures/images/img-{i}.png"),
            "scores": {
                "vgg16": {"max": _img_scores(0.6, 0.3, 0.1), "mean": _img_scores(0.5, 0.2, 0.1)},
                "mobilenet:alpha=0.25": {"max": _img_scores(NAN, NAN, NAN, "constant map (all 6)"),
                                         "mean": _img_scores(0.4, 0.3, 0.2)},
            },
        })
    return {
        "schema_version": 1,
        "run": {"name": "demo", "created": "2026-11-25T20:00:00Z", "images_dir": "images",
                "n_images": len(names), "n_skipped": len(skipped) if skipped else 1, "input_size": 224, "resize": "stretch",
                "layer": "auto", "random_weights": random_weights},
        "score_docs": dict(mapscores.SCORE_DOCS),
        "backbones": backbones,
        "images": images,
        "skipped": skipped or [{"rel": "bad.jpg", "reason": "truncated or corrupt image data"}],
        "figures": {"contact_sheets": {k: f"figures/contact_{k}.png" for k in ("max", "mean")},
                    "overview_chart": "figures/overview.png",
                    "representative": {"image": "cat.png", "path": "figures/images/img-0.png", "why": "median"}},
        "verdict": "On these 3 images, vgg16 gives the most clearly separated maps.",
        "warnings": ["mobilenet:alpha=0.25: 3 max map(s) were degenerate (constant or too small)."],
    }


def _nan_to_null(obj):
    """What rundir.write_json does: NaN becomes null in scores.json."""
    if isinstance(obj, dict):
        return {k: _nan_to_null(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_null(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v) for k, v in attrs]


def _parse(page):
    p = _Tags()
    p.feed(page)
    return p


# --------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------

HOSTILE_NAME = "<b>x</b>.png"
HOSTILE_REASON = "<script>alert(1)</script>"


def _hostile_summary():
    s = make_summary(names=(HOSTILE_NAME, "ok.png"),
                     skipped=[{"rel": 'evil"><img src=x onerror=alert(2)>.jpg', "reason": HOSTILE_REASON}])
    s["backbones"][0]["label"] = "vgg16<i>"
    s["verdict"] = "Verdict with <em>markup</em> & ampersand"
    s["warnings"] = ["warning <u>underlined</u>"]
    return s


def test_html_escapes_every_user_string():
    page = report_html.render_html(_hostile_summary())
    for raw in (HOSTILE_NAME, HOSTILE_REASON, "<img src=x", "vgg16<i>", "<em>markup</em>", "<u>underlined</u>"):
        assert raw not in page
    assert "&lt;b&gt;x&lt;/b&gt;.png" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;em&gt;markup&lt;/em&gt; &amp; ampersand" in page
    # structural check: no tag a user string could have smuggled in made it into the document
    tags = set(_parse(page).tags)
    assert not tags & {"script", "b", "i", "em", "u", "iframe"}
    assert not [a for a in _parse(page).attrs if a[1].startswith("on")]


def test_html_is_self_contained_with_relative_links_only():
    page = report_html.render_html(make_summary())
    parsed = _parse(page)
    assert "script" not in parsed.tags and "link" not in parsed.tags
    assert "style" in parsed.tags  # inline CSS
    urls = [v for tag, k, v in parsed.attrs if k in ("src", "href")]
    assert urls, "figures and per-image figures must be linked"
    for u in urls:
        assert ":" not in u and not u.startswith("/"), u
    assert "http://" not in page and "https://" not in page
    srcs = [v for tag, k, v in parsed.attrs if tag == "img" and k == "src"]
    # the first screen: the overview chart, then one representative per-image figure; sheets further down
    assert srcs == ["figures/overview.png", "figures/images/img-0.png", "figures/contact_max.png",
                    "figures/contact_mean.png"]


def test_html_figure_paths_are_url_quoted():
    odd = "figures/images/my cat #1?.png"
    s = make_summary(figure_paths={"cat.png": odd})
    s["figures"]["overview_chart"] = "figures/score chart #2?.png"
    page = report_html.render_html(s)
    hrefs = [v for tag, k, v in _parse(page).attrs if k in ("href", "src")]
    # RFC 3986 percent-encoding: space %20, '#' %23 (else a fragment), '?' %3F (else a query)
    assert "figures/images/my%20cat%20%231%3F.png" in hrefs
    assert "figures/score%20chart%20%232%3F.png" in hrefs
    assert odd not in page
    assert unquote("figures/images/my%20cat%20%231%3F.png") == odd


def test_random_weights_banner_iff_random_weights():
    on = make_summary(random_weights=True)
    off = make_summary(random_weights=False)
    banner = "RANDOM WEIGHTS — scores say nothing about pretrained features"
    assert banner in report_html.render_html(on) and banner in report_markdown.render_markdown(on)
    assert banner not in report_html.render_html(off) and banner not in report_markdown.render_markdown(off)
    assert 'class="banner"' in report_html.render_html(on) and 'class="banner"' not in report_html.render_html(off)
    # and the per-backbone labels say so too
    assert "RANDOM WEIGHTS" not in report_html.render_html(off)


def test_html_ranking_numbers_and_nan_as_na():
    s = make_summary()
    s["backbones"][1]["separation"] = {"mean": NAN, "lo": NAN, "hi": NAN, "n": 0, "n_missing": 3}
    s["backbones"][1]["cost"]["ms_per_image"] = NAN
    page = report_html.render_html(s)
    assert "0.400 [0.350, 0.450]" in page
    assert "14.7 M" in page and ">30.7<" in page and "85.1" in page and "11.7" in page
    assert "12%" in page and "5.3 (76%)" in page and "7×7×512" in page
    assert '<span class="tie">mobilenet:alpha=0.25</span>' in page  # the "tied with" column
    assert "nan" not in page.lower().replace("nanoseconds", "")
    assert "n/a" in page


def test_nan_in_memory_and_null_from_json_render_identically():
    s = make_summary()
    s["backbones"][1]["separation"] = {"mean": NAN, "lo": NAN, "hi": NAN, "n": 0, "n_missing": 3}
    from_json = json.loads(json.dumps(_nan_to_null(copy.deepcopy(s))))
    assert report_html.render_html(s) == report_html.render_html(from_json)
    assert report_markdown.render_markdown(s) == report_markdown.render_markdown(from_json)
    assert machine.csv_text(s) == machine.csv_text(from_json)


def test_per_image_separation_matches_ranking_definition():
    per = make_summary()["images"][0]["scores"]["mobilenet:alpha=0.25"]
    as_mapscores = {k: mapscores.MapScores(**v) for k, v in per.items()}
    assert report_content.image_separation(per) == pytest.approx(ranking.separation(as_mapscores))
    assert report_content.image_separation(per) == pytest.approx((0.4 + 0.3 + 0.2) / 3)  # degenerate max left out
    all_bad = {k: {**v, "otsu": NAN, "top10_mass": NAN, "concentration": NAN} for k, v in per.items()}
    assert math.isnan(report_content.image_separation(all_bad))


def test_html_per_image_table_links_figures_and_marks_degenerate_maps():
    s = make_summary()
    s["images"][2]["figure"] = None  # beyond --figures N: no figure drawn
    page = report_html.render_html(s)
    assert '<a href="figures/images/img-0.png">cat.png</a>' in page
    assert ">car.png<" in page and 'href="figures/images/img-2.png"' not in page
    assert "degenerate max: constant map (all 6)" in page
    assert "truncated or corrupt image data" in page and "bad.jpg" in page


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------

def _cells(line):
    """Split a GFM table row into cells the way GFM does: '|' preceded by a backslash is literal."""
    cells, cur, i = [], "", 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            cur += line[i:i + 2]
            i += 2
            continue
        if ch == "|":
            cells.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    cells.append(cur)
    return cells[1:-1]  # rows start and end with a pipe


def _tables(md):
    blocks, cur = [], []
    for line in md.splitlines():
        if line.startswith("|"):
            cur.append(line)
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    return blocks


def test_markdown_tables_keep_their_shape_with_pipes_and_newlines_in_names():
    s = make_summary(names=("a|b.png", "multi\nline|.png", "c.png"),
                     skipped=[{"rel": "x|y.jpg", "reason": "bad | worse\nand more"}])
    s["backbones"][0]["label"] = "vgg|16"
    for b in s["images"]:
        b["scores"]["vgg|16"] = b["scores"].pop("vgg16")
    md = report_markdown.render_markdown(s)
    tables = _tables(md)
    assert len(tables) >= 5  # ranking, max, mean, per-image, skipped
    for t in tables:
        widths = {len(_cells(line)) for line in t}
        assert len(widths) == 1, t
    per_image = next(t for t in tables if t[0].startswith("| image"))
    assert len(per_image) == 2 + 3 and len(_cells(per_image[0])) == 3  # image + two backbones
    assert "a\\|b.png" in md


def test_markdown_escapes_html_and_link_syntax():
    s = make_summary(names=(HOSTILE_NAME, "[click](http://evil.example).png"),
                     skipped=[{"rel": "z.jpg", "reason": HOSTILE_REASON}])
    md = report_markdown.render_markdown(s)
    assert HOSTILE_NAME not in md and "<script>" not in md
    assert "&lt;b&gt;x&lt;/b&gt;.png" in md
    assert re.search(r"(?<!\\)\]\(http", md) is None  # no live link: the ']' before '(' is escaped
    assert "\\[click\\]" in md


def test_markdown_has_the_sections_and_quoted_figure_links():
    s = make_summary(figure_paths={"cat.png": "figures/images/my cat (1).png"})
    md = report_markdown.render_markdown(s)
    for heading in ("## Verdict", "## Ranking", "### channel max map", "### channel mean map",
                    "## How to read the scores", "## Figures", "## Per-image scores", "## Skipped files (1)"):
        assert heading in md
    assert "(figures/images/my%20cat%20%281%29.png)" in md  # ')' inside a link target would end it
    assert "![overview: evidence per backbone, and quality vs GFLOPs](figures/overview.png)" in md
    assert md.index("**Recommended: vgg16") < md.index("figures/overview.png") < md.index("## Ranking")
    assert mapscores.SCORE_DOCS["otsu"].split()[0] in md


# --------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------

AWKWARD = ("a,b.png", 'say "hi".png', "two\nlines.png")


def test_csv_rows_shape_and_values():
    header, rows = machine.csv_rows(make_summary())
    assert header[:8] == ["image", "backbone", "layer", "aggregation", "otsu", "top10_mass", "concentration",
                          "degenerate"]
    assert header[8:] == list(registry.backbone_names())  # every backbone-level score, each tier
    assert {"stability", "linear_probe", "objectness", "det_map50", "separation", "dead_fraction"} <= \
        set(registry.backbone_names())
    assert len(rows) == 3 * 2 * 2  # images × backbones × scored aggregations
    first = rows[0]
    assert first[:8] == ["cat.png", "vgg16", "block5_pool", "max", 0.6, 0.3, 0.1, None]
    col = {n: 8 + i for i, n in enumerate(registry.backbone_names())}
    boxes = [n for n in registry.backbone_names() if registry.get(n).tier in ("detection", "boxes", "labels")]
    assert all(r[col[n]] is None for r in rows for n in boxes)  # not computed here: empty, never 0
    summary = make_summary()
    for r in rows:  # the label-free ones this run has: the backbone's own value on each of its rows
        b = next(b for b in summary["backbones"] if b["label"] == r[1])
        assert r[col["separation"]] == pytest.approx(b["separation"]["mean"])
    degenerate = [r for r in rows if r[1] == "mobilenet:alpha=0.25" and r[3] == "max"]
    assert all(r[4:7] == [None, None, None] and r[7] == "constant map (all 6)" for r in degenerate)


def test_csv_round_trips_names_with_comma_quote_and_newline(tmp_path):
    s = make_summary(names=AWKWARD)
    buf = io.StringIO(newline="")
    machine.write_csv(buf, s)
    back = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert back[0][0] == "image"
    assert [r[0] for r in back[1::4]] == list(AWKWARD)
    assert len(back) == 1 + 12 and all(len(r) == len(machine.csv_header()) for r in back)
    assert back[1][4:8] == ["0.6", "0.3", "0.1", ""]  # NaN/None -> empty cell

    path = tmp_path / "scores.csv"
    machine.write_csv(path, s)
    with open(path, newline="", encoding="utf-8") as f:
        assert list(csv.reader(f)) == back
    assert path.read_bytes().decode("utf-8") == machine.csv_text(s)
