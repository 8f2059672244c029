"""The [bot] table of kvmplan.toml: what the mailing-list bot does and its
limits for untrusted input. Every key is optional; the defaults are below.

    [bot]
    from = "kvmplan bot <kvmplan@example.org>"   # From: of the replies
    grace = 3600                  # seconds a series with missing patches waits
    max_message_bytes = 2097152   # a larger mail is not read; its series is marked
    max_patches = 300             # a longer series is not analysed
    analysis_timeout = 1800       # seconds per series; then the series is marked
    max_attempts = 3              # an analysis that crashes is retried this often
    target_url = "https://ci.example.org/kvmplan/{series}.html#{index}"
    baseline = "linux-6.12"       # or tree = "/path/to/linux" (read only); default: choose
    cpus = 2                      # model bounds, as `kvmplan analyze`
    failures = 0
    jobs = 2                      # parallel model runs in one analysis (0: one per CPU, up to 4)
    batch = 500                   # mails read per state transaction

    [bot.smtp]                    # no table: nothing is sent, the outbox is the product
    host = "127.0.0.1"
    port = 25
    from = "kvmplan@example.org"  # envelope sender (default: the address of bot.from)
    allow = ["vger.kernel.org", "example.org"]   # recipient domains; others dropped
    starttls = false
    user = ""                     # password from $KVMPLAN_SMTP_PASSWORD

`target_url` placeholders: {series} (the series' outbox name), {index}
(patch number), {msgid} (URL-quoted Message-ID), {version}.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kvmplan.analyze.config import ConfigError, read_toml


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    sender: str = ""                      # envelope From; "" = the address of BotConfig.sender
    allow: tuple[str, ...] = ()
    starttls: bool = False
    user: str = ""
    timeout: float = 30.0


@dataclass(frozen=True)
class BotConfig:
    sender: str = "kvmplan <kvmplan@localhost>"
    grace: float = 3600.0
    max_message_bytes: int = 2 * 1024 * 1024
    max_patches: int = 300
    analysis_timeout: float = 1800.0
    max_memory_mb: int = 4096             # address space of each worker process
    max_attempts: int = 3
    target_url: str = ""
    baseline: str | None = None
    tree: str | None = None
    cpus: int = 2
    failures: int = 0
    jobs: int = 0
    batch: int = 500                      # mails read per transaction
    vendor: str = "auto"       # auto: from the files the series touches
    smtp: SmtpConfig | None = None
    # the analyze config file (rules, severities, accepted risks), passed on
    config_path: str = ""


# toml key -> (field, type)
_KEYS: dict[str, tuple[str, type]] = {
    "from": ("sender", str),
    "grace": ("grace", float),
    "max_message_bytes": ("max_message_bytes", int),
    "max_patches": ("max_patches", int),
    "analysis_timeout": ("analysis_timeout", float),
    "max_memory_mb": ("max_memory_mb", int),
    "max_attempts": ("max_attempts", int),
    "target_url": ("target_url", str),
    "baseline": ("baseline", str),
    "tree": ("tree", str),
    "cpus": ("cpus", int),
    "failures": ("failures", int),
    "jobs": ("jobs", int),
    "batch": ("batch", int),
    "vendor": ("vendor", str),
}
_SMTP_KEYS: dict[str, tuple[str, type]] = {
    "host": ("host", str),
    "port": ("port", int),
    "from": ("sender", str),
    "allow": ("allow", list),
    "starttls": ("starttls", bool),
    "user": ("user", str),
    "timeout": ("timeout", float),
}
_PLACEHOLDERS = ("series", "index", "msgid", "version")


def _typed(value: Any, kind: type, where: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is list:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{where}: expected a list of strings")
        return tuple(v.strip().lower().lstrip("@.") for v in value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def _table(data: dict[str, Any], keys: dict[str, tuple[str, type]], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in keys:
            raise ConfigError(f"{where}: unknown key {key!r}")
        name, kind = keys[key]
        out[name] = _typed(value, kind, f"{where}.{key}")
    return out


def load_bot_config(path: Path | None) -> BotConfig:
    """The [bot] table of `path` (None: ./kvmplan.toml when present)."""
    found = read_toml(path)
    if found is None:
        return BotConfig()
    path, data = found
    section = data.get("bot", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [bot] must be a table")
    smtp_data = section.pop("smtp", None)
    values = _table(section, _KEYS, f"{path}: bot")
    cfg = BotConfig(**values, config_path=str(path.resolve()))
    if smtp_data is not None:
        if not isinstance(smtp_data, dict) or "host" not in smtp_data:
            raise ConfigError(f"{path}: [bot.smtp] needs at least host")
        smtp = SmtpConfig(**_table(smtp_data, _SMTP_KEYS, f"{path}: bot.smtp"))
        if not smtp.allow:
            raise ConfigError(f"{path}: bot.smtp.allow: list the recipient domains mail may go to")
        cfg = replace(cfg, smtp=smtp)
    check(cfg, str(path))
    return cfg


def check(cfg: BotConfig, where: str = "bot") -> None:
    """Refuse settings the bot can't honour (one line, naming the key)."""
    if cfg.grace < 0:
        raise ConfigError(f"{where}: grace must be >= 0")
    if cfg.jobs < 0:
        raise ConfigError(f"{where}: jobs must be >= 0 (0: one per CPU, up to 4)")
    for name in ("max_message_bytes", "max_patches", "max_attempts", "batch", "max_memory_mb"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{where}: {name} must be >= 1")
    if cfg.analysis_timeout <= 0:
        raise ConfigError(f"{where}: analysis_timeout must be > 0")
    if not 1 <= cfg.cpus <= 4:
        raise ConfigError(f"{where}: cpus: the model runs 1 to 4 CPUs")
    if cfg.tree and cfg.baseline:
        raise ConfigError(f"{where}: give tree or baseline, not both")
    if cfg.vendor not in ("auto", "vmx", "svm"):
        raise ConfigError(f"{where}: vendor must be auto, vmx or svm")
    try:
        cfg.target_url.format(**{k: "x" for k in _PLACEHOLDERS})
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"{where}: target_url: bad placeholder {exc} "
                          f"(known: {', '.join('{' + p + '}' for p in _PLACEHOLDERS)})") from None
    if "@" not in cfg.sender:
        raise ConfigError(f"{where}: from: {cfg.sender!r} has no mail address")

