"""Where the data kvmplan reads at run time lives: inside the package.

`grammars/` (tree-sitter queries, kernel-macro tables, the default kernel
configuration) and `templates/` (jinja2) are package data, found through
importlib.resources, so an installed wheel works from any directory. In a
checkout, the top-level `grammars/` and `templates/` are links to them.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_dir(name: str) -> Path:
    """A data directory shipped in the kvmplan package ("grammars", "templates")."""
    return Path(str(files("kvmplan") / name))


def grammar_path(name: str) -> Path:
    """A file under the package's grammars/ ("" for the directory itself)."""
    return package_dir("grammars") / name if name else package_dir("grammars")


def templates_dir() -> Path:
    """The package's jinja2 templates."""
    return package_dir("templates")
