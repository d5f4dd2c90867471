"""Code fingerprints: which package modules a job runs, and a hash of each that ignores comments,
docstrings and formatting.

A job's code is its script plus the package modules the script imports, followed recursively (the
import closure; an imported package's ``__init__`` counts, since importing runs it). Each file is
fingerprinted by its normalised syntax tree, so rewording a comment never restarts a 120-hour training
while any change to what the code does is seen. The workflow writes one small fingerprint file per
module (only when it changes) and lists them as job inputs: Snakemake then names the changed module.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "vocoder_energy"
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def normalised_tree(source: str, name: str | Path = "<source>") -> str:
    """The syntax tree of ``source`` as text, without docstrings, comments, formatting or positions."""
    tree = ast.parse(source, filename=str(name))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            # A bare string statement does nothing: docstrings and string "comments" alike.
            node.body = [statement for statement in body if not _is_docstring(statement)] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def source_fingerprint(path: str | Path) -> str:
    """SHA-256 of ``path``'s normalised syntax tree."""
    path = Path(path)
    return hashlib.sha256(normalised_tree(path.read_text(), path).encode()).hexdigest()


def module_file(module: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The file of package module ``module`` (dotted), or None when it is not one of ours."""
    if module == PACKAGE:
        return package_dir / "__init__.py"
    if not module.startswith(PACKAGE + "."):
        return None
    relative = Path(*module.split(".")[1:])
    for candidate in (package_dir / relative.with_name(relative.name + ".py"), package_dir / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path, package_dir: Path = PACKAGE_DIR) -> str | None:
    """The dotted name of a file inside the package, or None for a file outside it (a script)."""
    try:
        parts = path.resolve().relative_to(package_dir).with_suffix("").parts
    except ValueError:
        return None
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def _with_parents(module: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module runs its packages' ``__init__`` first."""
    parts = module.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts) + 1)]


def imported_modules(path: Path, package_dir: Path = PACKAGE_DIR) -> set[str]:
    """Package modules that ``path`` imports anywhere (top level or inside a function)."""
    stat = path.stat()
    return set(_imported_modules(path, package_dir, (stat.st_mtime_ns, stat.st_size)))


@functools.lru_cache(maxsize=4096)
def _imported_modules(path: Path, package_dir: Path, _version: tuple[int, int]) -> frozenset[str]:
    # Parsed once per file version: the workflow asks for ~40 closures sharing the same ~30 modules.
    own = module_name(path, package_dir)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = own.split(".") if own else []
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import name``: name is a submodule or an attribute of pkg.
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            for module in _with_parents(name):
                if module_file(module, package_dir) is not None:
                    found.add(module)
    return frozenset(found)


def import_closure(paths: Iterable[str | Path], package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """``paths`` and every file of the package in ``package_dir`` they import, recursively, sorted."""
    seen: dict[Path, None] = {}
    pending = [Path(p).resolve() for p in paths]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen[path] = None
        pending += [module_file(module, package_dir) for module in sorted(imported_modules(path, package_dir))]
    return sorted(seen)


class FingerprintStore:
    """One fingerprint file per source file under ``root`` (mirroring the source's path relative to
    ``base``), rewritten only when the fingerprint changes, so its modification time and checksum move
    exactly when the code does. ``package_dir``: the package sources to follow (the workflow's own
    ``src/vocoder_energy``, which is what a user edits)."""

    def __init__(self, root: str | Path, base: str | Path, package_dir: str | Path = PACKAGE_DIR):
        self.root, self.base, self.package_dir = Path(root), Path(base).resolve(), Path(package_dir).resolve()
        self._done: dict[Path, str] = {}

    def file_for(self, source: str | Path) -> str:
        """The fingerprint file of ``source`` (written or refreshed now), relative to the working directory."""
        source = Path(source).resolve()
        if source not in self._done:
            target = self.root / self._relative(source)
            target = target.with_name(target.name + ".fingerprint")
            text = f"{source_fingerprint(source)}\n"
            if not target.is_file() or target.read_text() != text:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
                tmp.write_text(text)
                os.replace(tmp, target)  # jobs on a cluster re-read the workflow at the same time
            self._done[source] = os.path.relpath(target)
        return self._done[source]

    def _relative(self, source: Path) -> Path:
        """The workflow's files by their path in it, the package's by theirs; a file of another package
        (a family's plugin) by its absolute path under ``external/``."""
        for base in (self.base, self.package_dir.parent):
            if source.is_relative_to(base):
                return source.relative_to(base)
        return Path("external", *source.parts[1:])

    def closure_files(self, *paths: str | Path) -> list[str]:
        """Fingerprint files of ``paths`` and of everything they import from the package."""
        return [self.file_for(path) for path in import_closure(paths, self.package_dir)]
