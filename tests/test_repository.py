"""The repository stands alone: a fresh clone passes its own tests.

Its reference configuration (``examples/slaguard.yaml``) is in it, loads with no
environment at all and sets every key of the schema; the original reference is
kept byte for byte and accepted as it stands; and no file of the repository
names, or builds a path to, anything outside the repository root.  A sibling
folder that happens to exist on a developer's or CI's machine does not exist on
a user's (``.ci/run`` tests a fresh clone alone in an empty folder for the same
reason).
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel

from slaguard.cli import main
from slaguard.config import load_config
from slaguard.config.schema import Config
from tests.config.test_config import EXAMPLE_ENV
from tests.conftest import EXAMPLE_CONFIG, REFERENCE_CONFIG, ROOT

# The SHA-256 of the original reference: the copy is accepted as it stands, so
# it is never edited to make a test pass.
REFERENCE_SHA256 = "685d6dc7af224b3399d4500c16f5357e1913202a915b96f05ee8294163878a8a"

# -- the reference configurations ---------------------------------------------------------


def test_original_reference_is_kept_byte_for_byte() -> None:
    assert hashlib.sha256(REFERENCE_CONFIG.read_bytes()).hexdigest() == REFERENCE_SHA256


def test_check_config_accepts_the_original_reference_as_it_stands(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config", "-c", str(REFERENCE_CONFIG)]) == 0
    assert "ok (5 targets, 3 services, 1 customers)" in capsys.readouterr().out


def _without_slaguard_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SLAGUARD_") and name != "SLAGUARD_REQUIRE_INTEGRATION":
            monkeypatch.delenv(name)


def test_check_config_accepts_the_example_with_no_environment(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _without_slaguard_env(monkeypatch)
    assert main(["check-config", "-c", str(EXAMPLE_CONFIG)]) == 0
    assert "ok (10 targets, 3 services, 1 customers)" in capsys.readouterr().out


def test_example_loads_without_warnings_and_with_secrets_off() -> None:
    cfg, warnings = load_config(EXAMPLE_CONFIG, env={})
    assert warnings == []
    assert cfg.server.listen == "127.0.0.1:9108"
    assert cfg.server.api_token == ""  # empty: the write API answers 403
    assert cfg.storage.path == str(EXAMPLE_CONFIG.parent / "data" / "slaguard.db")
    assert cfg.availability.maintenance.calendar_overrides == str(
        EXAMPLE_CONFIG.parent / "calendar-overrides.yaml")


def test_example_takes_its_secrets_and_addresses_from_the_environment() -> None:
    env = {"SLAGUARD_API_TOKEN": "t0ken", "SLAGUARD_LISTEN": "0.0.0.0:9200",
           "SLAGUARD_LOCATION": "beijing", "SLAGUARD_DINGTALK_TOKEN": "dt",
           "SLAGUARD_PROBE_TOKEN": "pt", "SLAGUARD_ACME_PORTAL_TOKEN": "acme"}
    cfg, _ = load_config(EXAMPLE_CONFIG, env=env)
    assert cfg.server.api_token == "t0ken" and cfg.server.port == 9200
    assert cfg.location == "beijing"
    oncall = cfg.channels["oncall"]
    assert oncall.kind == "dingtalk" and oncall.url.endswith("access_token=dt")
    assert cfg.target("api-health").headers == {"Authorization": "Bearer pt"}
    assert cfg.customers[0].token == "acme"


def _tag(model: type[BaseModel]) -> str:
    kind = model.model_fields.get("kind")
    return f"(kind={get_args(kind.annotation)[0]})" if kind is not None else ""


def _nested(annotation: Any, suffix: str = "") -> Iterator[tuple[type[BaseModel], str]]:
    """The models inside a field's type, each with how its path continues."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, suffix + _tag(annotation)
        return
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is dict:
        args, suffix = args[1:], suffix + ".<name>"
    elif origin in (list, tuple):
        suffix += "[]"
    for arg in args:
        yield from _nested(arg, suffix)


def _owner(model: type[BaseModel], name: str) -> type[BaseModel]:
    """The class that declares a field: a key common to every target is set once."""
    for cls in reversed(model.__mro__):
        if isinstance(cls, type) and issubclass(cls, BaseModel) and name in cls.model_fields:
            return cls
    return model


def _schema_keys(model: type[BaseModel], prefix: str,
                 out: dict[tuple[type[BaseModel], str], str]) -> None:
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = f"{prefix}.{key}" if prefix else key
        if (_owner(model, name), key) in out:
            continue
        out[(_owner(model, name), key)] = path
        for sub, suffix in _nested(field.annotation):
            _schema_keys(sub, path + suffix, out)


def _keys_set(value: Any, out: set[tuple[type[BaseModel], str]]) -> None:
    if isinstance(value, BaseModel):
        model = type(value)
        for name in value.model_fields_set:
            out.add((_owner(model, name), model.model_fields[name].alias or name))
            _keys_set(getattr(value, name), out)
    elif isinstance(value, list | tuple):
        for item in value:
            _keys_set(item, out)
    elif isinstance(value, dict):
        for item in value.values():
            _keys_set(item, out)


def test_example_sets_every_key_of_the_schema() -> None:
    """A key added to slaguard/config/schema.py goes into examples/slaguard.yaml,
    with a comment saying what it means."""
    schema: dict[tuple[type[BaseModel], str], str] = {}
    _schema_keys(Config, "", schema)
    cfg, _ = load_config(EXAMPLE_CONFIG, env={})
    used: set[tuple[type[BaseModel], str]] = set()
    _keys_set(cfg, used)
    missing = sorted(path for key, path in schema.items() if key not in used)
    assert missing == [], f"{EXAMPLE_CONFIG.relative_to(ROOT)} does not set: {missing}"


# -- nothing outside the repository -------------------------------------------------------

_SKIP_DIRS = {".git", ".venv", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache",
              ".hypothesis", "data", "demo-data", "rules", "build", "dist", "out"}


def repository_files() -> list[Path]:
    """The files a clone has (tracked, or new and not ignored), else a walk of the tree."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
        names = [n for n in out.decode("utf-8", "surrogateescape").split("\0") if n]
    except (OSError, subprocess.SubprocessError):
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and not _SKIP_DIRS & set(p.relative_to(ROOT).parts)
                 and not any(part.endswith(".egg-info") for part in p.parts)]
    return sorted(p for p in (ROOT / n for n in names) if p.is_file())


# Built from pieces so that this file does not match itself.
_UP, _SHARED = r"\.\./+", "shared"
OUTSIDE_TEXT = re.compile(
    rf"{_UP}{_SHARED}\b"  # the workplace's sibling folder, relative
    rf"|(?<![\w.-]){_SHARED}/(?:DESIGN\.md|examples|notes|source|hooks)\b"  # its entries
    r"|(?<![\w.-])/" r"work/(?:" rf"{_SHARED}|main)\b"  # this machine's absolute paths
)


def text_outside(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), 1):
        if OUTSIDE_TEXT.search(line):
            yield number, line.strip()


class _PathEvaluator:
    """What a module's path expressions anchored at ``__file__`` name, read without
    running it: ``Path(__file__)``, ``.parent``, ``.parents[n]``, ``/ "part"``,
    ``.resolve()``, ``os.path.dirname``/``join``, module-level names and names
    imported from other modules of the repository."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.envs: dict[Path, dict[str, Path]] = {}

    def env(self, file: Path, tree: ast.Module | None = None) -> dict[str, Path]:
        if file in self.envs:
            return self.envs[file]
        env = self.envs[file] = {}
        try:
            tree = tree or ast.parse(file.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            return env
        nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Assign | ast.ImportFrom)]
        for node in sorted(nodes, key=lambda n: (n.lineno, n.col_offset)):
            if isinstance(node, ast.ImportFrom):
                self._import(node, file, env)
            elif len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                value = self.eval(node.value, file, env)
                if value is not None:
                    env[node.targets[0].id] = value
        return env

    def _import(self, node: ast.ImportFrom, file: Path, env: dict[str, Path]) -> None:
        base = self.root if node.level == 0 else file.parents[node.level - 1]
        stem = base.joinpath(*(node.module or "").split("."))
        for module in (stem.with_suffix(".py"), stem / "__init__.py"):
            if module.is_file() and module.is_relative_to(self.root):
                other = self.env(module)
                for alias in node.names:
                    if alias.name in other:
                        env[alias.asname or alias.name] = other[alias.name]
                return

    @staticmethod
    def _join(base: Path, parts: list[ast.expr]) -> Path | None:
        texts = [p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str)]
        if len(texts) != len(parts):
            return None
        return Path(os.path.normpath(base.joinpath(*texts)))

    def eval(self, node: ast.expr, file: Path, env: dict[str, Path]) -> Path | None:
        if isinstance(node, ast.Name):
            return file if node.id == "__file__" else env.get(node.id)
        if isinstance(node, ast.Attribute) and node.attr == "parent":
            base = self.eval(node.value, file, env)
            return None if base is None else base.parent
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "parents" and isinstance(node.slice, ast.Constant) \
                and isinstance(node.slice.value, int):
            base = self.eval(node.value.value, file, env)
            if base is None:
                return None
            index = node.slice.value
            return base.parents[index] if 0 <= index < len(base.parents) else Path("/")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            base = self.eval(node.left, file, env)
            return None if base is None else self._join(base, [node.right])
        if isinstance(node, ast.Call):
            return self._call(node, file, env)
        return None

    def _call(self, node: ast.Call, file: Path, env: dict[str, Path]) -> Path | None:
        func, args = node.func, node.args
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        first = self.eval(args[0], file, env) if args else None
        if name in ("Path", "PurePath", "PosixPath", "abspath", "realpath", "normpath"):
            return None if first is None else self._join(first, args[1:])
        if name == "join":
            return None if first is None else self._join(first, args[1:])
        if name == "dirname":
            return None if first is None else first.parent
        if not isinstance(func, ast.Attribute):
            return None
        base = self.eval(func.value, file, env)
        if base is None:
            return None
        if name in ("resolve", "absolute", "expanduser"):
            return base
        if name == "joinpath":
            return self._join(base, args)
        return None

    def outside(self, file: Path, source: str) -> Iterator[tuple[int, str]]:
        tree = ast.parse(source)
        env = self.env(file, tree)
        seen: set[int] = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute | ast.Subscript | ast.BinOp | ast.Call):
                continue
            path = self.eval(node, file, env)
            if path is not None and not path.is_relative_to(self.root) \
                    and node.lineno not in seen:
                seen.add(node.lineno)
                yield node.lineno, ast.unparse(node)


_SCRIPT_DIR = re.compile(
    r"""\$\(\s*dirname\s+"?\$(?:0|\{?BASH_SOURCE(?:\[0\])?\}?)"?\s*\)((?:/\.\.)+)""")
# Files that run with the repository root as their folder: any "../" leaves it.
_ROOT_RELATIVE = {"Makefile", "Dockerfile", "docker-compose.yml", "pyproject.toml"}


def shell_outside(file: Path, text: str) -> Iterator[tuple[int, str]]:
    depth = len(file.relative_to(ROOT).parent.parts)
    for number, line in enumerate(text.splitlines(), 1):
        ups = [m.group(1).count("..") for m in _SCRIPT_DIR.finditer(line)]
        if any(up > depth for up in ups) or (
                file.relative_to(ROOT).as_posix() in _ROOT_RELATIVE
                and re.search(r"(?:^|[\s\"'=:(])\.\./", line)):
            yield number, line.strip()


def outside_references(files: list[Path]) -> list[str]:
    evaluator = _PathEvaluator(ROOT)
    found = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # binary: PDFs, images
        hits = list(text_outside(text)) + list(shell_outside(file, text))
        if file.suffix == ".py":
            try:
                hits += evaluator.outside(file, text)
            except SyntaxError as e:
                hits.append((e.lineno or 0, f"cannot parse: {e.msg}"))
        rel = file.relative_to(ROOT)
        found += [f"{rel}:{number}: {what}" for number, what in sorted(set(hits))]
    return found


def test_no_file_refers_to_or_reads_a_path_outside_the_repository() -> None:
    files = repository_files()
    assert len(files) > 50 and ROOT / "README.md" in files
    found = outside_references(files)
    assert found == [], ("these lines point outside the repository, which a fresh clone "
                         "does not have:\n" + "\n".join(found))


def test_the_checks_find_what_they_look_for() -> None:
    """The guards above are only worth something if they fire."""
    up = ".." + "/"
    assert [n for n, _ in text_outside(
        f"see {up}{_SHARED}/notes/x.md\nthe {_SHARED} machine\n{_SHARED}/DESIGN.md\n"
        f"/work/{_SHARED}/examples/a.yaml\nhttps://host/work/{_SHARED}/x\n")] == [1, 3, 4]
    source = (
        "from pathlib import Path\n"
        "import os\n"
        "ROOT = Path(__file__).resolve().parent.parent\n"
        "A = ROOT.parent / 'x'\n"
        "B = Path(__file__).parents[2] / 'y'\n"
        "C = ROOT / '..' / 'z'\n"
        "D = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), 'w')\n"
        "OK = ROOT / 'examples' / 'slaguard.yaml'\n"
        "ALSO_OK = Path(__file__).with_name('golden')\n"
    )
    found = _PathEvaluator(ROOT).outside(ROOT / "tests" / "conftest.py", source)
    assert [n for n, _ in found] == [4, 5, 6, 7]
    imported = "from tests.conftest import ROOT\nX = ROOT.parent / 'other'\nY = ROOT / 'tests'\n"
    found = _PathEvaluator(ROOT).outside(ROOT / "tests" / "x" / "test_y.py", imported)
    assert [n for n, _ in found] == [2]
    two_up = "/.." * 2
    script = f'cd "$(dirname "$0")/.."\ncd "$(dirname "${{BASH_SOURCE[0]}}"){two_up}"\n'
    assert [n for n, _ in shell_outside(ROOT / "scripts" / "x", script)] == [2]
    assert [n for n, _ in shell_outside(ROOT / "Makefile", f"x:\n\tcat {up}notes\n")] == [2]
