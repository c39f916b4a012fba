"""Rules of the house that code review would otherwise have to remember."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("corpactions", "snapshots", "tasks")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _sources() -> list[Path]:
    return [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")] + [ROOT / "celeryconfig.py"]


def test_only_the_localnet_imports_litesvm() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in _sources()
        if "solders.litesvm" in _imports(p) and "localnet" not in p.parts
    ]
    assert offenders == []


def test_only_chain_rpc_imports_the_solana_py_client() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in _sources()
        if any(name.startswith("solana.rpc") or name == "solana.exceptions" for name in _imports(p))
        and p != ROOT / "corpactions" / "chain" / "rpc.py"
    ]
    assert offenders == []


def test_tasks_are_thin_wrappers_that_touch_no_database_chain_or_frames_directly() -> None:
    heavy = ("sqlmodel", "sqlalchemy", "solders", "solana", "polars", "httpx")
    offenders = {
        str(p.relative_to(ROOT)): sorted(n for n in _imports(p) if n.split(".")[0] in heavy)
        for p in (ROOT / "tasks").glob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def _module_graph() -> dict[str, set[str]]:
    """Every module of the packages and the modules it imports, lazily imported ones included."""
    modules: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in modules:
                        deps.add(full)
                    elif node.module in modules:
                        deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names if alias.name in modules)
        graph[name] = deps - {name}
    return graph


def test_imports_point_down_the_pipeline_with_no_circle() -> None:
    graph = _module_graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, cycles[:5]


def test_api_routes_live_in_routers_not_in_create_app() -> None:
    """create_app wires routers, middleware and error handlers; it defines no route itself."""
    tree = ast.parse((ROOT / "corpactions" / "api" / "app.py").read_text())
    [create_app] = [
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "create_app"
    ]
    nested = [
        n.name
        for n in ast.walk(create_app)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n is not create_app
    ]
    assert nested == []
    routed = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "corpactions" / "api").glob("*.py")
        if "router = APIRouter(" in p.read_text()
    ]
    assert len(routed) >= 5, routed
