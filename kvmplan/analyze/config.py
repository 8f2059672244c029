"""kvmplan.toml: which rules run, their severities, and accepted risks.

    [rules]
    disable = ["KVM013"]          # or: enable = ["KVM001", "KVM004"] (only these)

    [severity]
    KVM006 = "warning"            # error | warning | note

    [[accept]]
    rule = "KVM006"
    function = "kvm_create_vm"
    reason = "vm_list walk is serialised by cpus_read_lock since ..."

An accepted finding is still reported, marked accepted with its reason;
it no longer counts toward --fail-on.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvmplan.model.rules import RULES, SEVERITY

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

LEVELS = ("error", "warning", "note")


class ConfigError(ValueError):
    """kvmplan.toml is unreadable or says something we can't honour."""


@dataclass(frozen=True)
class Accept:
    rule: str
    function: str
    reason: str


@dataclass(frozen=True)
class Config:
    rules: frozenset[str] = frozenset(RULES)
    severity: tuple[tuple[str, str], ...] = ()
    accept: tuple[Accept, ...] = ()
    path: str = ""

    def severity_of(self, rule: str) -> str:
        for code, level in self.severity:
            if code == rule:
                return level
        return SEVERITY.get(rule, "warning")

    def accepted(self, rule: str, function: str) -> str:
        """The reason a finding of `rule` in `function` is accepted, or ""."""
        for a in self.accept:
            if a.rule == rule and a.function in (function, "*"):
                return a.reason
        return ""


def _codes(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of rule codes")
    out = []
    for v in value:
        code = v.strip().upper()
        if code not in RULES:
            raise ConfigError(f"{where}: unknown rule {v!r}")
        out.append(code)
    return out


def read_toml(path: Path | None) -> tuple[Path, dict[str, Any]] | None:
    """kvmplan.toml's tables: `path`, or ./kvmplan.toml when it exists (None
    when neither is given). Also read by the bot for its [bot] table."""
    if path is None:
        path = Path("kvmplan.toml")
        if not path.is_file():
            return None
    try:
        return path, tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_config(path: Path | None) -> Config:
    """Read `path` (None: ./kvmplan.toml when it exists, else defaults)."""
    found = read_toml(path)
    if found is None:
        return Config()
    path, data = found
    unknown = sorted(set(data) - {"rules", "severity", "accept", "bot"})  # [bot]: kvmplan.bot.config
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(unknown)}")
    rules = set(RULES)
    section = data.get("rules", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [rules] must be a table")
    if "enable" in section:
        rules = set(_codes(section["enable"], f"{path}: rules.enable"))
    if "disable" in section:
        rules -= set(_codes(section["disable"], f"{path}: rules.disable"))
    severity = []
    for code, level in sorted(dict(data.get("severity", {})).items()):
        if code.upper() not in RULES:
            raise ConfigError(f"{path}: severity: unknown rule {code!r}")
        if level not in LEVELS:
            raise ConfigError(f"{path}: severity.{code}: {level!r} is not one of {', '.join(LEVELS)}")
        severity.append((code.upper(), level))
    accept = []
    items = data.get("accept", [])
    if not isinstance(items, list):
        raise ConfigError(f"{path}: accept must be an array of tables ([[accept]])")
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict) or not {"rule", "function", "reason"} <= set(item):
            raise ConfigError(f"{path}: accept #{i} needs rule, function and reason")
        code = str(item["rule"]).upper()
        if code not in RULES:
            raise ConfigError(f"{path}: accept #{i}: unknown rule {item['rule']!r}")
        if not str(item["reason"]).strip():
            raise ConfigError(f"{path}: accept #{i}: the reason may not be empty")
        accept.append(Accept(code, str(item["function"]), str(item["reason"]).strip()))
    return Config(frozenset(rules), tuple(severity), tuple(accept), str(path))
