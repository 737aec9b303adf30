"""The house rules of ../DESIGN.md, read from the source with ast: no import cycles, arrows
down the pipe only, and TensorFlow/Keras at module level only where the rules allow it."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "forecast"

#: The pipe, bottom first: a module may import only modules of its own layer or below.
#: The shared ground (errors, runtime, config, console, files) is below every stage.
#: intervals sits below baselines (the baselines' bands are calibrated as intervals are).
LAYERS = [
    {"errors", "runtime"},
    {"config"},
    {"console", "files"},
    {"data"},
    {"calendar", "transforms"},
    {"windows"},
    {"metrics"},
    {"intervals"},
    {"baselines"},
    {"evaluation"},
    {"engine"},
    {"models", "devices"},
    {"training"},
    {"model_dirs"},
    {"bundle"},
    {"predict"},
    {"report"},
    {"refit"},
    {"plotting"},
    {"runners"},
    {"tuning"},
    {"options"},
    {"cli"},
    {"__main__"},
]
#: The data package's own pipe, bottom first (forecast/data/): a module may import only
#: modules of its own layer or below; its __init__ re-exports them all.
DATA_LAYERS = [
    {"data.sources"},
    {"data.tables"},
    {"data.dates", "data.numbers"},
    {"data.layouts"},
    {"data.panel"},
    {"data.describe"},
]
#: Where TensorFlow and Keras may be imported at module level.
TENSORFLOW_ALLOWED = {"models", "devices", "training", "bundle", "predict"}


def module_name(path: Path) -> str:
    """forecast/tuning/search.py -> tuning.search; forecast/cli.py -> cli."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "__init__"


def imports(tree: ast.Module, name: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) of every import in ``tree``, with
    ``forecast.x`` written as ``x``; relative imports resolved against ``name``."""
    found = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                   ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, top) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = name.split(".")[:-child.level + 1 or None] \
                        if child.level > 1 else name.split(".")[:-1]
                    base = ".".join(["forecast", *package, base]).rstrip(".")
                found.append((base, child.lineno, top))
                if base in ("forecast", "forecast.tuning"):  # from forecast import tuning
                    found.extend((f"{base}.{a.name}", child.lineno, top) for a in child.names)
            visit(child, inner)

    visit(tree, True)
    return found


def graph() -> dict[str, list[tuple[str, int, bool]]]:
    """module -> its imports of other forecast modules and of third-party packages."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        out[name] = imports(ast.parse(path.read_text(), str(path)), name)
    return out


def own(target: str, modules) -> str | None:
    """The forecast module an import names (``forecast.tuning.space`` -> ``tuning.space``),
    or None for a third-party one."""
    if target != "forecast" and not target.startswith("forecast."):
        return None
    rest = target.removeprefix("forecast").removeprefix(".")
    while rest and rest not in modules:
        rest = rest.rpartition(".")[0]
    return rest or None


def layer(module: str) -> int:
    top = module.split(".")[0]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"forecast/{module.replace('.', '/')}.py has no place in LAYERS: "
                         "add it where DESIGN.md draws it")


GRAPH = graph()


def edges():
    for module, found in GRAPH.items():
        for target, line, top in found:
            other = own(target, GRAPH)
            if other and other != module:
                yield module, other, line, top


def test_every_module_has_a_layer():
    for module in GRAPH:
        if module != "__init__":
            layer(module)


def test_no_import_cycles():
    nexts: dict[str, set[str]] = {m: set() for m in GRAPH}
    for module, other, _, _ in edges():
        if other != "__init__" and not module.startswith(other + "."):  # a package's own
            nexts[module].add(other)
    state: dict[str, int] = {}

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(nexts[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(nexts):
        if module not in state:
            walk(module, [module])


def test_arrows_point_down_the_pipe():
    up = [f"forecast/{m.replace('.', '/')}.py line {line} imports {o}"
          for m, o, line, _ in edges()
          if m != "__init__" and o != "__init__" and layer(o) > layer(m)]
    assert not up, "imports up the pipe (see LAYERS):\n" + "\n".join(up)


def data_layer(module: str) -> int:
    for i, names in enumerate(DATA_LAYERS):
        if module in names:
            return i
    raise AssertionError(f"forecast/{module.replace('.', '/')}.py has no place in DATA_LAYERS: "
                         "add it where DESIGN.md draws it")


def test_the_data_package_imports_down_its_own_pipe():
    modules = [m for m in GRAPH if m.startswith("data.")]
    assert len(modules) == sum(len(names) for names in DATA_LAYERS), modules
    up = [f"forecast/{m.replace('.', '/')}.py line {line} imports {o}"
          for m, o, line, _ in edges()
          if m.startswith("data.") and (o == "data" or o.startswith("data."))
          and (o == "data" or data_layer(o) > data_layer(m))]
    assert not up, "imports up the data package's pipe (see DATA_LAYERS):\n" + "\n".join(up)


def test_tensorflow_is_imported_at_module_level_only_where_allowed():
    bad = [f"forecast/{m.replace('.', '/')}.py line {line} imports {target}"
           for m, found in GRAPH.items() for target, line, top in found
           if top and target.split(".")[0] in ("tensorflow", "keras")
           and m.split(".")[0] not in TENSORFLOW_ALLOWED]
    assert not bad, "TensorFlow/Keras at module level:\n" + "\n".join(bad)


def test_the_rules_see_a_real_import():
    """The reader is not blind: it finds bundle's import of windows and models' of keras."""
    assert ("windows", True) in [(own(t, GRAPH), top) for t, _, top in GRAPH["bundle"]]
    assert ("keras", True) in [(t, top) for t, _, top in GRAPH["models"]]
    assert any(not top for t, _, top in GRAPH["cli"] if own(t, GRAPH) == "training")


def undocumented(tree: ast.Module, where: str) -> list[str]:
    """The public functions, methods and classes of ``tree`` (and the module itself) that
    have no docstring, as ``where:line name``."""
    missing = [] if ast.get_docstring(tree) else [f"{where}: the module"]

    def walk(node, prefix):
        for child in node.body:
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                    and not child.name.startswith("_"):
                if not ast.get_docstring(child):
                    missing.append(f"{where}:{child.lineno} {prefix}{child.name}")
                if isinstance(child, ast.ClassDef):
                    walk(child, f"{prefix}{child.name}.")
    walk(tree, "")
    return missing


def test_every_module_and_public_function_has_a_docstring():
    missing = [m for path in sorted(PACKAGE.rglob("*.py"))
               for m in undocumented(ast.parse(path.read_text(encoding="utf-8")),
                                     str(path.relative_to(PACKAGE.parent)))]
    assert not missing, "no docstring: " + "; ".join(missing)


def test_the_docstring_check_sees_a_missing_one():
    tree = ast.parse('"""A module."""\nclass A:\n    """A."""\n    def run(self):\n'
                     '        return 1\n    def _own(self):\n        return 2\n'
                     'def f():\n    """F."""\n')
    assert undocumented(tree, "m.py") == ["m.py:4 A.run"]
