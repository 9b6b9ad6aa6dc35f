"""The package's import layers: read from docs/architecture.md, checked on every import.

A module of package P may import package Q only when Q sits in a lower layer, or Q == P.
Same-layer imports across packages are refused too. quantjax imports sit at module top level
(lazy ones only in ``quantjax/cli/``), the package has no import cycle, and nothing imports
``jax._src``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "quantjax"


def layers() -> dict[str, int]:
    """``{package: layer}`` from the ```layers block of docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md has no ```layers block"
    out = {}
    for line in block.group(1).splitlines():
        m = re.match(r"\s*(\d+)\s+(.*)", line)
        if m:
            for name in re.findall(r"[a-z_]+", m.group(2).split("(")[0]):
                out[name] = int(m.group(1))
    return out


def modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def package(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "quantjax"
    return parts[1]


def imports(mods: dict[str, Path]):
    """``(importer, imported module, lineno, top_level)`` of every quantjax import."""
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in mods else prefix
                           for a in node.names]
            else:
                continue
            for t in targets:
                if t.startswith("jax._src"):
                    yield name, t, node.lineno, id(node) in top
                if t == "quantjax" or t.startswith("quantjax."):
                    while t not in mods and "." in t:
                        t = t.rsplit(".", 1)[0]
                    yield name, t, node.lineno, id(node) in top


def test_layer_order_holds():
    order = layers()
    mods = modules()
    unknown = sorted({package(m) for m in mods} - set(order) - {"quantjax"})
    assert not unknown, f"packages missing from docs/architecture.md's layers: {unknown}"
    bad = []
    for a, b, line, _ in imports(mods):
        if b.startswith("jax._src"):
            bad.append(f"{a}:{line} imports private {b}")
            continue
        pa, pb = package(a), package(b)
        if pa == pb or pb == "quantjax":
            continue
        if pa == "quantjax" or order[pb] >= order[pa]:
            bad.append(f"{a}:{line} (layer {order.get(pa)}) imports {b} (layer {order[pb]})")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_imports_at_module_top_except_cli():
    mods = modules()
    lazy = [f"{a}:{line} imports {b}" for a, b, line, top in imports(mods)
            if not top and package(a) != "cli"]
    assert not lazy, "quantjax imports inside functions (only quantjax.cli may):\n" + "\n".join(lazy)


def test_no_import_cycles():
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for a, b, _, top in imports(mods):
        if top and b in mods and a != b and not a.startswith(b + "."):  # not into an ancestor
            graph[a].add(b)
    color: dict[str, int] = {}
    cycle: list[str] = []

    def visit(n, stack):
        color[n] = 1
        stack.append(n)
        for d in sorted(graph[n]):
            if color.get(d) == 1:
                cycle.extend(stack[stack.index(d):] + [d])
                return True
            if d not in color and visit(d, stack):
                return True
        stack.pop()
        color[n] = 2
        return False

    for m in sorted(mods):
        if m not in color and visit(m, []):
            break
    assert not cycle, "import cycle: " + " -> ".join(cycle)
