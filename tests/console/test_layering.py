"""The console's layers: HTTP modules (routes, pages, the page shell) sit on top of the domain logic,
never the other way round, and the page shell is no hub that imports every domain's pages."""

from __future__ import annotations

import ast
from pathlib import Path

import otwatch.console

CONSOLE = Path(otwatch.console.__file__).resolve().parent
#: modules that answer HTTP: each domain's routes.py / pages.py, the wire routes, and the app around them
HTTP_NAMES = {"routes", "pages", "wire_routes"}
HTTP_MODULES = {"app", "fleet.activation", "fleet.fastpath"}


def _modules() -> dict[str, Path]:
    return {
        ".".join(f.relative_to(CONSOLE).with_suffix("").parts): f
        for f in CONSOLE.rglob("*.py")
        if "migrations" not in f.parts
    }


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {n.removeprefix("otwatch.console.") for n in found if n.startswith("otwatch.console.")}


def _routes_or_pages(module: str) -> bool:
    return module.rsplit(".", 1)[-1] in HTTP_NAMES or module == "web" or module.startswith("web.")


def _is_http(module: str) -> bool:
    return _routes_or_pages(module) or module in HTTP_MODULES


def test_domain_logic_never_imports_routes_or_pages() -> None:
    wrong = {
        module: sorted(i for i in _imports(path) if _routes_or_pages(i))
        for module, path in _modules().items()
        if not _is_http(module)  # the entry points (cli, demo, server) may import the app itself
    }
    assert {m: found for m, found in wrong.items() if found} == {}


def test_the_page_shell_imports_no_domain_pages_or_routes() -> None:
    wrong = {
        module: sorted(i for i in _imports(path) if i.rsplit(".", 1)[-1] in HTTP_NAMES)
        for module, path in _modules().items()
        if module.startswith("web.")
    }
    assert {m: found for m, found in wrong.items() if found} == {}
