"""The rules of the house, read from the code's imports (ast), so that they hold by themselves.

- kiosk/core and kiosk/vision import no Kivy, no driver (kiosk.peripherals or a hardware library),
  no screen, no app, no hall;
- the hall imports nothing of the kiosk but kiosk.core;
- no module imports another module's _private name;
- no import cycle between modules, counting imports inside functions and under TYPE_CHECKING too:
  an import moved into a function still ties the two modules together.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kiosk", "hall")
HARDWARE = ("smartcard", "serial", "usb", "escpos")  # pyscard, pyserial, pyusb, python-escpos
CORE_MAY_NOT = (
    "kivy",
    "kiosk.peripherals",
    "kiosk.screens",
    "kiosk.app",
    "kiosk.wiring",
    "kiosk.technician",
    "kiosk.demo",
    "kiosk.cli",
    "hall",
    *HARDWARE,
)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported (a name imported from a package counts as its submodule when it is one)
    names: tuple[str, ...]  # names taken with `from target import ...`
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found[module_name(path)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "__future__":
                continue
            plain = tuple(alias.name for alias in node.names)
            submodules = [n for n in plain if f"{base}.{n}" in known]
            for sub in submodules:
                yield Import(name, f"{base}.{sub}", (), node.lineno)
            rest = tuple(n for n in plain if n not in submodules)
            if rest or not submodules:
                yield Import(name, base, rest, node.lineno)


def all_imports() -> list[Import]:
    known = modules()
    return [found for name, path in known.items() for found in imports(name, path, set(known))]


def under(target: str, prefix: str) -> bool:
    return target == prefix or target.startswith(prefix + ".")


def where(found: Import) -> str:
    return f"{found.module}:{found.line} imports {found.target}"


def test_core_and_vision_import_no_kivy_driver_screen_or_hall() -> None:
    wrong = [
        where(found)
        for found in all_imports()
        if (under(found.module, "kiosk.core") or under(found.module, "kiosk.vision"))
        and any(under(found.target, banned) for banned in CORE_MAY_NOT)
    ]
    assert wrong == []


def test_the_hall_uses_only_kiosk_core_of_the_kiosk() -> None:
    wrong = [
        where(found)
        for found in all_imports()
        if under(found.module, "hall") and under(found.target, "kiosk") and not under(found.target, "kiosk.core")
    ]
    assert wrong == []


def test_no_module_imports_another_modules_private_names() -> None:
    wrong = [
        f"{where(found)}: {name}"
        for found in all_imports()
        for name in found.names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert wrong == []


def test_no_import_cycles() -> None:
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for found in all_imports():
        if found.target in known and found.target != found.module:
            graph[found.module].add(found.target)
    cycles = strongly_connected(graph)
    assert cycles == [], "\n".join(" → ".join(sorted(cycle)) for cycle in cycles)


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm: the groups of modules that import each other, directly or around."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_reader_sees_the_imports() -> None:
    """The scan itself works: a known import is found, with its line."""
    found = [f for f in all_imports() if f.module == "kiosk.core.journey" and f.target == "kiosk.core.session"]
    assert found and found[0].line > 0
