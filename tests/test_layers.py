"""The three layers import one way only: core → evaluation (``_grid``) → tools (``_tools``,
``_cli``). A module may import its own layer and the layers below it, never one above."""

import ast
import pathlib

import pytest

import jaxcalc

PACKAGE = pathlib.Path(jaxcalc.__file__).parent
LAYERS = {"_core": 0, "_grid": 1, "_tools": 2, "_cli": 2}


def _layer(parts: tuple[str, ...]) -> int | None:
    return LAYERS.get(parts[0]) if parts else None


def _imports(path: pathlib.Path, package: pathlib.Path = PACKAGE):
    """(line, imported module as parts below the package) for every import of the package."""
    here = path.relative_to(package).parent.parts
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[: len(here) - (node.level - 1)]
            module = (*base, *(node.module.split(".") if node.module else ()))
            targets = [module] if node.module else [(*module, a.name) for a in node.names]
            for target in targets:
                yield node.lineno, target
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in
                                                                            node.names]
            for name in names:
                if name and name.split(".")[0] == "jaxcalc":
                    yield node.lineno, tuple(name.split(".")[1:])


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if _layer(p.relative_to(PACKAGE).parts)
                 is not None)


def test_every_module_sits_in_a_layer():
    top = {p.name for p in PACKAGE.glob("*.py")}
    assert top == {"__init__.py", "__main__.py"}, "put modules in _core, _grid, _tools or _cli"
    assert len(MODULES) > 20


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    own = _layer(path.relative_to(PACKAGE).parts)
    wrong = [f"line {line}: {'.'.join(target)}" for line, target in _imports(path)
             if (_layer(target) or 0) > own]
    assert not wrong, f"{path.name} imports a higher layer: {wrong}"


def test_the_checker_sees_a_wrong_import(tmp_path):
    (tmp_path / "_core").mkdir()
    bad = tmp_path / "_core" / "bad.py"
    bad.write_text("from .._grid import grids\nfrom . import errors\nimport jaxcalc._tools.fd\n")
    found = [target for _, target in _imports(bad, tmp_path)]
    assert found == [("_grid",), ("_core", "errors"), ("_tools", "fd")]
    assert [_layer(t) for t in found] == [1, 0, 2]
