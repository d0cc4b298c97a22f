"""The house's layering, read from the imports (ast), so an arrow that runs back fails here.

    run.py -> harness -> {learners, tasks};  learners and tasks import no harness, and not each other.
    inside harness, by stage: report -> measure -> run -> store -> config, and every stage may use the base
    modules (errors, text); cli sits on top of them all.

It also holds the rules that keep the graph readable: no import cycle between modules, and imports at the top of
modules, except the few that are optional (Ray) or slow and rarely needed (the report's matplotlib in cli).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "learners", "tasks")
# rank of each part of harness: a module may import its own rank or lower, never higher
STAGES = {"errors": 0, "text": 0, "config": 1, "store": 2, "run": 3, "measure": 4, "report": 5, "cli": 6,
          "gpu_check": 6}
# function-level imports, each with its reason (see the module that holds it)
DEFERRED = {
    ("harness.cli", "harness.report.finish"),  # matplotlib and seaborn: only the commands that draw pay for them
    ("harness.cli", "harness.report.html"),
    ("harness.cli", "harness.gpu_check"),
    ("harness.run.executors", "harness.run.ray_executor"),  # Ray is optional (requirements-ray.txt)
    ("harness.run.ray_executor", "ray"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    found["run"] = ROOT / "run.py"
    return found


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import statement of ``path``; ``from a import b`` gives
    a.b when a.b is a module of this project, else a."""
    tree = ast.parse(path.read_text())
    known = modules()
    top = {id(node) for node in tree.body}
    top |= {id(n) for node in tree.body if isinstance(node, ast.If | ast.Try) for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.append((full if full in known else node.module, id(node) in top))
    return out


def project_imports(name: str) -> list[tuple[str, bool]]:
    known = modules()
    return [(m, top) for m, top in imports(known[name]) if m.split(".")[0] in PACKAGES]


def stage(module: str) -> int:
    parts = module.split(".")
    return STAGES[parts[1]] if len(parts) > 1 else -1


def test_every_harness_module_belongs_to_a_stage():
    for name in modules():
        if name.startswith("harness."):
            assert name.split(".")[1] in STAGES, f"{name}: not in a stage of harness (add it to one, or to STAGES)"


@pytest.mark.parametrize("name", sorted(modules()))
def test_arrows_point_one_way(name):
    for target, _ in project_imports(name):
        root = target.split(".")[0]
        if name == "run":
            assert root == "harness", f"run.py imports {target}: it is a thin entry point into harness"
        elif name.startswith(("learners", "tasks")):
            assert root == name.split(".")[0], f"{name} imports {target}: learners and tasks import only torch " \
                                               f"and themselves"
        elif name.startswith("harness.") and root == "harness" and target != "harness":
            assert stage(target) <= stage(name), \
                f"{name} (stage {name.split('.')[1]}) imports {target} (stage {target.split('.')[1]}): the arrow " \
                f"runs back (report -> measure -> run -> store -> config)"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` (node -> nodes it imports) as a path that returns to its start, or None."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if not state.get(nxt) and (cycle := visit(nxt, path + [nxt])):
                return cycle
        state[node] = 2
        return None

    for name in sorted(graph):
        if not state.get(name) and (cycle := visit(name, [name])):
            return cycle
    return None


def test_find_cycle_finds_a_planted_cycle_and_nothing_in_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": set(), "a": {"b"}, "b": {"b"}}) == ["b", "b"]


def test_no_import_cycles():
    graph = {name: {t for t, _ in project_imports(name) if t in modules() and t != name} for name in modules()}
    for name in graph:  # a package's __init__ is not an edge to its modules: drop package parents
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    assert len(graph) > 20 and sum(map(len, graph.values())) > 20, "the import graph was not read"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_imports_sit_at_the_top_unless_listed():
    deferred = set()
    for name, path in modules().items():
        for target, top in imports(path):
            if not top:
                deferred.add((name, target))
    assert deferred == DEFERRED, f"function-level imports changed: {sorted(deferred ^ DEFERRED)}; move them to the " \
                                 f"top of the module, or list them in DEFERRED with the reason"


def test_the_checker_sees_a_backward_arrow():
    """The rules above are not vacuous: a config module that imports the report is caught."""
    fake = ROOT / "harness" / "config" / "_layering_probe.py"
    fake.write_text("from harness.report.html import build_report\n")
    try:
        with pytest.raises(AssertionError, match="runs back"):
            test_arrows_point_one_way("harness.config._layering_probe")
    finally:
        fake.unlink()
