"""The house's shape, checked from the source: no import circle among the advisor's modules (imports
inside functions count), no import from a lower layer to a higher one, and few modules loose at the top."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "advisor"
LAYERS = [  # lowest first: a module may import its own layer and those below (ARCHITECTURE.md)
    ("advisor._version", "advisor.errors", "advisor._suggest", "advisor._quiet", "advisor._filelock", "advisor.resources"),
    ("advisor.models",),
    ("advisor.engine", "advisor.reading"),
    ("advisor.validator",),
    ("advisor.executor",),
    ("advisor.report",),
    ("advisor.pipeline",),
    ("advisor.cli",),
    ("advisor", "advisor.__main__"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Module -> the advisor modules it imports anywhere in its code (not under `if TYPE_CHECKING`)."""
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and getattr(block.test, "id", getattr(block.test, "attr", "")) == "TYPE_CHECKING"
                       for node in ast.walk(block)}
        found = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("advisor"):
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules]
                found.update(subs)
                if len(subs) < len(node.names):
                    found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("advisor"))
        edges[name] = {_owner(t, modules) for t in found} - {name}
    return edges


def _owner(target: str, modules) -> str:
    while target not in modules and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def layer(name: str) -> int:
    matches = [(len(prefix), i) for i, group in enumerate(LAYERS) for prefix in group
               if name == prefix or name.startswith(prefix + ".")]
    assert matches, f"{name} belongs to no layer: add it to ARCHITECTURE.md and LAYERS"
    return max(matches)[1]


def test_no_import_goes_up_a_layer():
    upward = [f"{m} -> {t}" for m, targets in imports().items() for t in targets if layer(t) > layer(m)]
    assert upward == []


def test_no_import_circle():
    edges = imports()
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                circles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert circles == []


def test_few_modules_sit_loose_at_the_top():
    loose = sorted(p.name for p in ROOT.glob("*.py"))
    assert len(loose) <= 8, loose
