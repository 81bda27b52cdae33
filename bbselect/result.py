"""``Result``: a finished run as a notebook sees it (headline, ranking, figures on demand), and
``Sweep``: the results of a config's sweep points. Returned by every ``bbselect`` API function."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from bbselect.errors import UsageError
from bbselect.reports import headline as hl
from bbselect.reports import ondemand, page


def shown(fig):
    """A Figure a notebook displays as a PNG without pyplot or ``%matplotlib inline`` (IPython looks
    for ``_repr_png_`` on the object)."""
    import io

    def png() -> bytes:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        return buf.getvalue()

    fig._repr_png_ = png
    return fig


@dataclass
class Result:
    """A finished run: its folder and summary, with the views a notebook wants."""

    run_dir: Path
    summary: dict
    exit_code: int = 0

    @property
    def best(self) -> str | None:
        """The recommended backbone (rank 1), or None when no backbone could be scored."""
        return hl.headline(self.summary)["best"]

    @property
    def headline(self) -> str:
        return hl.headline_text(hl.headline(self.summary))

    @property
    def ranking(self) -> list[dict]:
        """One dict per backbone in rank order: rank, backbone, metric, value, lo, hi, tied_with,
        gflops, params, ms_per_image (with ms_lo / ms_hi), random_weights."""
        return hl.ranking_rows(self.summary)

    def to_pandas(self):
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Result.to_pandas() needs pandas: pip install pandas") from None
        return pd.DataFrame(self.ranking).set_index("rank")

    def _image(self, image) -> dict:
        images = self.summary.get("images") or []
        if isinstance(image, int) and not isinstance(image, bool):
            if not -len(images) <= image < len(images):
                raise UsageError(f"image {image}: the run has {len(images)} images")
            return images[image]
        for im in images:
            if str(image) in (im["rel"], im["id"], Path(im["rel"]).name):
                return im
        raise UsageError(f"image {image!r} is not in this run (its images: "
                         f"{', '.join(im['rel'] for im in images[:5])}{' ...' if len(images) > 5 else ''})")

    def figure(self, image=0, overlay: bool = False):
        """The per-image figure (rows = backbones; input | max | mean | sum) of ``image``: its index,
        relative path, file name or id. A matplotlib Figure."""
        return shown(ondemand.image_figure_of(self.run_dir, self.summary, self._image(image)["id"], overlay=overlay))

    def contact_sheet(self, agg: str = "mean"):
        """The contact sheet of one map kind (``max`` or ``mean``) over the figure sample."""
        return shown(ondemand.contact_sheet_of(self.run_dir, self.summary, agg))

    def _repr_html_(self) -> str:
        parts = [page.headline_html(self.summary)]
        chart = (self.summary.get("figures") or {}).get("overview_chart")
        if chart and (self.run_dir / chart).is_file():
            data = base64.b64encode((self.run_dir / chart).read_bytes()).decode("ascii")
            parts.append(f'<img src="data:image/png;base64,{data}" style="max-width:100%" alt="overview chart">')
        parts.append(f'<p><small>report: {page.e(self.run_dir / "report.html")}</small></p>')
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"Result({self.headline!r}, run_dir={str(self.run_dir)!r})"


@dataclass
class Sweep:
    """A config's sweep: one ``Result`` per point, in order, and the folder holding ``index.html``."""

    run_dir: Path
    results: list = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return max((r.exit_code for r in self.results), default=0)

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __repr__(self) -> str:
        return f"Sweep({len(self.results)} runs, index={str(self.run_dir / 'index.html')!r})"
