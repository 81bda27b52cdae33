"""The Markdown report (``report.md``) of a run summary: ``render_markdown``.

A renderer of the presentation model (``view.report_view``), like the HTML report: it escapes and lays
out the model's parts and cells and never formats a number or writes a sentence of its own, so both
reports (and the terminal) read the same. A pure function: a summary in, a string out; the caller writes
the file. Every user-derived string is made inert for GitHub-flavoured Markdown by ``md_escape`` (one
line, no markup, no HTML); figure paths are URL-quoted and stay relative.
"""

from __future__ import annotations

from bbselect.reports import view

# "$" and "~": GitHub renders $...$ as math and ~~...~~ as strikethrough.
_MD_SPECIAL = {"\\": "\\\\", "|": "\\|", "`": "\\`", "[": "\\[", "]": "\\]", "*": "\\*", "_": "\\_",
               "$": "\\$", "~": "\\~", "<": "&lt;", ">": "&gt;", "&": "&amp;"}


def md_escape(x) -> str:
    """A user string made inert for a GFM table cell or paragraph (one line, no markup, no HTML)."""
    text = " ".join(str(x).splitlines())
    return "".join(_MD_SPECIAL.get(ch, ch) for ch in text)


def md_number(text: str) -> str:
    """A formatted number (``0.400 [0.350, 0.450]``) made inert but readable: as ``md_escape``, except
    that its square brackets stay (GFM makes a link only of ``[..](..)`` or a defined reference)."""
    return md_escape(text).replace("\\[", "[").replace("\\]", "]")


def cell_md(c) -> str:
    """One model cell as Markdown: its text (a link when it has one), its second line in brackets, a
    RANDOM WEIGHTS flag in bold, warning marks after ⚠."""
    text = md_escape(c.text) if c.kind in ("text", "label") else md_number(c.text)
    if c.href:
        text = f"[{text}]({c.href})"
    if c.flag:
        text += f" **{md_escape(c.flag)}**"
    if c.sub:
        text += f" ({md_escape(c.sub)})"
    return text + "".join(f" ⚠ {md_escape(m)}" for m in c.marks)


def table_md(t, heading: str = "##") -> list[str]:
    """A model table: heading, GFM table (an empty cell is a space), note."""
    lines = [f"{heading} {md_escape(t.title)}", ""] if heading else []
    lines += ["| " + " | ".join(md_escape(h) for h in t.columns) + " |", "|" + "|".join("---" for _ in t.columns) + "|"]
    lines += ["| " + " | ".join(cell_md(c) or " " for c in r) + " |" for r in t.rows]
    return lines + [""] + ([md_escape(t.note), ""] if t.note else [])


def _figure(f: dict) -> list[str]:
    return [f"![{md_escape(f['alt'])}]({f['url']})", "", md_escape(f["caption"]), ""]


def render_markdown(summary: dict) -> str:
    v = view.report_view(summary)
    out = [f"# bbselect report: {md_escape(v['name'])}", ""]
    if v["banner"]:
        out += [f"> **⚠ {md_escape(v['banner'])}**", ""]
    out += ["**" + "".join(md_number(t) if role == "interval" else md_escape(t) for role, t in v["headline"]) + "**", ""]
    for f in v["first_figures"]:
        out += _figure(f)
    out += [f"- **{md_escape(c[0].text)}:** {md_escape(c[1].text)}" for c in v["run_facts"].rows] + [""]
    if v["warnings"]:
        out += ["## Warnings", ""] + [f"- {md_escape(w)}" for w in v["warnings"]] + [""]
    out += ["## Verdict", "", md_escape(v["verdict"]), ""]
    if v["evidence_line"]:
        out += [md_escape(v["evidence_line"]), ""]
    out += table_md(v["ranking"])
    for t in v["evidence"]:
        out += table_md(t)
    if v["detections"]:
        out += _figure(v["detections"])
    out += table_md(v["details"])
    if v["all_scores"]:
        out += table_md(v["all_scores"])
    out += ["## Label-free map scores", ""]
    for t in v["map_scores"]:
        out += table_md(t, "###")
    out += [md_escape(v["map_note"]), ""]
    if v["score_docs"]:
        out += ["## How to read the scores", ""]
        out += [f"- **{md_escape(k)}**: {md_escape(d)}" for k, d in v["score_docs"]] + [""]
    if v["figures"]:
        out += ["## Figures", ""]
        for f in v["figures"]:
            out += _figure(f)
        out += [md_escape(v["figures_note"]), ""] if v["figures_note"] else []
    if v["per_image"]:
        out += table_md(v["per_image"])
    if v["skipped"]:
        out += table_md(v["skipped"])
    return "\n".join(out).rstrip("\n") + "\n"
