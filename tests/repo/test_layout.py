"""The package's layering: rooms by pipeline stage, and no import goes upward or reaches for a private name."""

import ast
from pathlib import Path

import bbselect

PKG = Path(bbselect.__file__).parent
# Low to high. A module may import from its own layer or any lower one.
LAYERS = [
    {"errors", "progress", "common", "__init__"},
    {"inputs"},
    {"models"},
    {"store"},
    {"probes"},
    {"scoring"},
    {"reports"},
    {"config"},
    {"runs"},
    {"cli", "cli_info", "cli_options", "api", "result", "arrays", "__main__"},
]


def _room(module: str) -> str:
    """'bbselect.scoring.stats' -> 'scoring'; 'bbselect.errors' -> 'errors'; 'bbselect' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _level(room: str) -> int:
    for i, rooms in enumerate(LAYERS):
        if room in rooms:
            return i
    raise AssertionError(f"room {room!r} is not in LAYERS: add it to the layering (and to this test)")


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        yield name, path


def _imports(path: Path):
    """(imported module, [names]) for every intra-package import, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; use absolute bbselect.* imports"
            if node.module and node.module.split(".")[0] == "bbselect":
                yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "bbselect":
                    yield a.name, []


def test_every_module_belongs_to_a_room():
    names = [name for name, _ in _modules()]
    assert len(names) > 30
    for name in names:
        _level(_room(name))


def test_no_import_goes_upward():
    upward = []
    for name, path in _modules():
        here = _level(_room(name))
        for target, names in _imports(path):
            targets = [target] if target != "bbselect" else [f"bbselect.{n}" for n in names]
            for t in targets:
                if t == "bbselect.__version__":
                    continue
                if _level(_room(t)) > here:
                    upward.append(f"{name} imports {t}")
    assert not upward, "imports that go upward:\n" + "\n".join(upward)


def test_no_private_name_crosses_a_module_boundary():
    private = []
    for name, path in _modules():
        for target, names in _imports(path):
            private += [f"{name} imports {target}.{n}" for n in names if n.startswith("_") and n != "__version__"]
    assert not private, "private names imported from another module:\n" + "\n".join(private)


def test_modules_stay_small():
    big = {name: n for name, path in _modules() if (n := len(path.read_text().splitlines())) > 310}
    assert not big, f"modules over ~300 lines: {big}"


def test_the_layering_test_would_catch_an_upward_import(tmp_path):
    """The walker sees a violation when there is one (guards against a test that cannot fail)."""
    bad = tmp_path / "bad.py"
    bad.write_text("from bbselect.runs.pipeline import compare\nfrom bbselect.reports.figures import _RED\n")
    found = list(_imports(bad))
    assert ("bbselect.runs.pipeline", ["compare"]) in found
    assert _level(_room("bbselect.runs.pipeline")) > _level(_room("bbselect.inputs.images"))
    assert any(n.startswith("_") for _, names in found for n in names)


def listed_modules(tree: str) -> set[str]:
    """The module paths a Layout tree names: ``room/`` lines open a room; on every other line the
    leading ``*.py`` names (before the description) are modules of the current room, or of the
    package itself at the top indent."""
    listed, room = set(), ""
    for line in tree.splitlines():
        words = line.split()
        if not words or words[0] == "bbselect/":
            continue
        if words[0].endswith("/"):
            room = words[0]
            continue
        if len(line) - len(line.lstrip()) <= 2:
            room = ""
        for word in words:
            if not word.endswith(".py"):
                break
            listed.add(room + word)
    return listed


def layout_tree() -> str:
    page = (PKG.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    return page.split("\n## Layout\n", 1)[1].split("```", 2)[1]


def test_architecture_layout_names_every_module():
    """docs/architecture.md's Layout tree lists every module in its room, so the map a newcomer reads
    cannot drift from the tree."""
    listed = listed_modules(layout_tree())
    modules = {p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py") if p.name != "__init__.py"}
    assert not sorted(modules - listed), f"modules missing from docs/architecture.md's Layout: {sorted(modules - listed)}"
    assert not sorted(listed - modules), f"docs/architecture.md's Layout names modules that do not exist: {sorted(listed - modules)}"


def test_the_layout_check_would_catch_a_missing_module():
    tree = layout_tree()
    assert "scoring/detection.py" in listed_modules(tree) and "probes/detection.py" in listed_modules(tree)
    without = tree.replace("    detection.py       the verdict", "    (gone)             the verdict")
    assert without != tree
    assert "scoring/detection.py" not in listed_modules(without)
    assert "probes/detection.py" in listed_modules(without)  # the same file name in another room still counts


def test_the_tests_mirror_the_package():
    """tests/<room>/ for each room's unit tests; end-to-end suites and checks of the repository apart."""
    tests = Path(__file__).resolve().parents[1]
    rooms = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))}
    assert folders - {"end_to_end", "repo"} <= rooms, folders - rooms
    assert not list(tests.glob("test_*.py")), "a test module at the top of tests/: put it in its room's folder"
