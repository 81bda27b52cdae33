"""examples/quickstart.ipynb runs top to bottom in a real kernel and shows what it promises."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"


def _outputs(cell, kind):
    return [o.get("data", {}).get(kind, "") for o in cell.get("outputs", []) if o.get("output_type") in
            ("execute_result", "display_data")]


def test_quickstart_notebook_runs_and_shows_the_answer(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on any cell error
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    first = "".join(_outputs(code[0], "text/html"))
    # MobileNet v1 and ResNet50 are two families and a label-free score ranks them: never "Recommended"
    assert 'id="headline"' in first and "Ranked first (NOT validated across families)" in first
    assert "Recommended:" not in first and "RANDOM WEIGHTS" in first
    assert "data:image/png;base64," in first  # the chart is embedded
    best = "".join(_outputs(code[1], "text/plain")).strip("'\"")
    assert best in ("mobilenet:alpha=0.25,layer=c3", "resnet50:layer=c3")
    table = "".join(_outputs(code[2], "text/html"))
    assert "<table" in table and "resnet50:layer=c3" in table and "separation" in table
    assert str(tmp_path) in "".join(_outputs(code[3], "text/plain"))  # results/ under the notebook's folder
    assert all(_outputs(c, "image/png") and _outputs(c, "image/png")[0] for c in code[4:6])  # two Figures shown
    last = "".join(_outputs(code[6], "text/plain"))
    assert "my_finetuned_net" in last and "mobilenet:alpha=0.25" in last
    assert len(list((tmp_path / "results" / ".arrays").glob("*/image_*.png"))) == 6
