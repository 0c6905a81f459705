"""The package's imports run one way, in the order of the data flow: no module imports, directly or through
others, a module that imports it back. Read from the source with ast, so lazy imports inside functions count too."""
from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "geollava"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports (``from .x import y`` counts as x.y when y is a module)."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != this}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "geollava.data.template" in graph and "geollava.families" in graph["geollava.data.template"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# The floors, lowest first: a package (or a module at the package root) imports only from floors below its own
# or from itself, so a sample's path from annotation to score reads bottom-up. docs/development.md draws them.
FLOORS = [
    ["geollava.geometry", "geollava.metrics", "geollava.disk", "geollava.locks", "geollava.distributed"],
    ["geollava.tasks", "geollava.families"],
    ["geollava.data"],
    ["geollava.models", "geollava.synthetic", "geollava.report", "geollava.convert"],
    ["geollava.arguments"],
    ["geollava.config"],
    ["geollava.plan", "geollava.runs"],
    ["geollava.sft", "geollava.evaluation"],
    ["geollava.grpo", "geollava.serving", "geollava.export"],
    ["geollava.launch"],
    ["geollava.cli"],
    ["geollava.__main__", "geollava"],
]
FLOOR = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}


def room_of(module: str) -> str:
    """The package (or root module) a module belongs to: geollava.data.template -> geollava.data."""
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    rooms: dict[str, set[str]] = {}
    for module, imports in graph.items():
        rooms.setdefault(room_of(module), set()).update(room_of(m) for m in imports if room_of(m) != room_of(module))
    return rooms


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Each import that runs from a floor to one above it (or across, between two rooms of one floor)."""
    return [f"{module} imports {imported} ({room_of(module)} is on floor {FLOOR[room_of(module)]}, "
            f"{room_of(imported)} on {FLOOR[room_of(imported)]})"
            for module, imports in sorted(graph.items()) for imported in sorted(imports)
            if room_of(imported) != room_of(module) and FLOOR[room_of(imported)] >= FLOOR[room_of(module)]]


def test_every_package_and_root_module_has_a_floor():
    rooms = set(package_graph(import_graph()))
    assert rooms <= set(FLOOR), f"place these in FLOORS: {sorted(rooms - set(FLOOR))}"


def test_no_import_runs_up_a_floor_and_the_packages_form_no_circle():
    graph = import_graph()
    assert upward_imports(graph) == []
    assert find_cycle(package_graph(graph)) is None


def test_the_floor_check_sees_an_upward_import():
    """What this test file would say of tasks importing data again (the old circle)."""
    graph = {"geollava.tasks.base": {"geollava.data.boxes"}, "geollava.data.dataset": {"geollava.tasks"},
             "geollava.tasks": set()}
    assert upward_imports(graph) == ["geollava.tasks.base imports geollava.data.boxes (geollava.tasks is on floor "
                                     "1, geollava.data on 2)"]
    assert find_cycle(package_graph(graph)) == ["geollava.data", "geollava.tasks", "geollava.data"]
