"""Kernel configuration used to evaluate `#if` blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kvmplan.cparse.tables import grammar_path

_LINE = re.compile(r"^\s*(CONFIG_[A-Za-z0-9_]+)=(\S+)")
_NOT_SET = re.compile(r"^\s*#\s*(CONFIG_[A-Za-z0-9_]+) is not set")


@dataclass(frozen=True)
class KernelConfig:
    """CONFIG_* values ('y', 'm', or a literal) plus plain macros known defined."""

    values: dict[str, str] = field(default_factory=dict)

    def is_defined(self, name: str) -> bool:
        value = self.values.get(name)
        return value is not None and value != "n"

    def value(self, name: str) -> int:
        """Numeric value of a macro in an `#if` expression (undefined is 0)."""
        raw = self.values.get(name)
        if raw is None or raw == "n":
            return 0
        if raw in ("y", "m"):
            return 1
        try:
            return int(raw.strip('"'), 0)
        except ValueError:
            return 1

    def with_defines(self, extra: dict[str, str]) -> "KernelConfig":
        merged = dict(self.values)
        merged.update(extra)
        return KernelConfig(merged)


def parse_config_text(text: str) -> dict[str, str]:
    """Read a kernel `.config` (or our default table) into a name → value map."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            values[m.group(1)] = m.group(2)
            continue
        m = _NOT_SET.match(line)
        if m:
            values[m.group(1)] = "n"
    return _with_module_aliases(values)


def _with_module_aliases(values: dict[str, str]) -> dict[str, str]:
    # Kconfig defines CONFIG_FOO_MODULE (not CONFIG_FOO) for a tristate set to m.
    out: dict[str, str] = {}
    for name, value in values.items():
        if value == "m":
            out[name + "_MODULE"] = "y"
            out.setdefault(name, "m")
        else:
            out[name] = value
    return out


def default_config() -> KernelConfig:
    """The bundled x86_64 KVM configuration (grammars/config-x86_64.txt)."""
    text = grammar_path("config-x86_64.txt").read_text(encoding="utf-8")
    return KernelConfig(parse_config_text(text))


def load_config(path: Path | None, defines: list[str] | None = None) -> KernelConfig:
    """The default configuration, or a .config file, plus NAME=VALUE overrides."""
    if path is None:
        config = default_config()
    else:
        config = KernelConfig(parse_config_text(path.read_text(encoding="utf-8", errors="replace")))
    extra: dict[str, str] = {}
    for item in defines or []:
        name, _, value = item.partition("=")
        extra[name.strip()] = value.strip() or "y"
    return config.with_defines(_with_module_aliases(extra)) if extra else config
