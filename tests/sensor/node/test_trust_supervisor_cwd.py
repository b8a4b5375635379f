"""Review of the sensor supervisor (finding 32): the sensor it starts imports nothing from the
working directory.

Finding 28 gave the console update's processes ``python -P``. The sensor supervisor still started
``python -m otwatch sensor run``, and a version's pre-check ran ``python -c "import otwatch ..."``:
both put the working directory first on ``sys.path``, ahead of the installed code and ahead of the
version's own ``lib/`` (PYTHONPATH), so an ``otwatch/`` a local user left in the directory the
supervisor was started from ran as the sensor (root, capturing). They run with ``-P`` now, and so
does every other ``sys.executable`` launch in ``src/``."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import otwatch
from otwatch.sensor.node.versions import RUN_COMMAND, Supervisor, VersionStore
from otwatch.wire import package

pytestmark = pytest.mark.fast


def _plant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding an ``otwatch`` package that leaves a marker when imported."""
    planted = tmp_path / "cwd"
    (planted / "otwatch").mkdir(parents=True)
    marker = tmp_path / "ran"
    (planted / "otwatch" / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').write('planted')\n__version__ = '6.6.6'\n"
    )
    monkeypatch.chdir(planted)
    return marker


def test_supervised_sensor_does_not_import_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = _plant(tmp_path, monkeypatch)
    store = VersionStore(tmp_path / "base")
    sup = Supervisor(store, ["--help"])  # the real command line; --help ends it at once
    child, _offset = sup._start()
    assert child.wait(60) == 0, store.log_file.read_text()
    assert not marker.exists(), "the sensor ran the otwatch package planted in its working directory"
    assert "run" in store.log_file.read_text().lower()  # the real `otwatch sensor run --help` answered
    assert list(RUN_COMMAND[:2]) == [sys.executable, "-P"]


def test_version_precheck_does_not_import_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = _plant(tmp_path, monkeypatch)
    lib = tmp_path / "lib"
    lib.mkdir()
    # the installed code (no lib/ of its own here) says its own version: the check passes
    package.precheck_code(lib, otwatch.__version__, "otwatch.sensor")
    assert not marker.exists(), "the pre-check imported the otwatch package planted in its working directory"


def _launches(tree: ast.AST) -> list[tuple[int, list[str]]]:
    """Lists and tuples starting with ``sys.executable`` (or a name bound to it) and a string option."""
    names = {"sys.executable"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and ast.unparse(node.value) == "sys.executable":
            names.update(ast.unparse(t) for t in node.targets)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.List | ast.Tuple) and len(node.elts) >= 2:
            first, second = node.elts[0], node.elts[1]
            if (
                ast.unparse(first) in names
                and isinstance(second, ast.Constant)
                and isinstance(second.value, str)
            ):
                found.append((node.lineno, [ast.unparse(e) for e in node.elts[:3]]))
    return found


def test_every_python_launch_in_src_uses_dash_p() -> None:
    """``python -m``/``-c`` anywhere in the product starts with ``-P`` (a guard for new launches)."""
    src = Path(otwatch.__file__).parent
    bad = []
    seen = 0
    for path in sorted(src.rglob("*.py")):
        for line, elts in _launches(ast.parse(path.read_text(), str(path))):
            seen += 1
            if elts[1] != "'-P'":
                bad.append(f"{path.relative_to(src)}:{line}: {elts}")
    assert seen >= 6  # the supervisor, pre-check, console update, demo, simulators
    assert not bad, "\n".join(bad)
