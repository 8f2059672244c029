"""Parse results cached on disk, keyed by file content, configuration and the
front-end itself (its code and grammar tables), so warm runs skip parsing."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from kvmplan import pickles
from kvmplan.cparse.config import KernelConfig
from kvmplan.cparse.events import FileUnit
from kvmplan.cparse.tables import grammar_path
from kvmplan.cparse.unit import parse_file


def cache_dir() -> Path:
    return pickles.cache_root() / "parse"


@lru_cache(maxsize=1)
def frontend_hash() -> str:
    h = hashlib.blake2b(digest_size=16)
    here = Path(__file__).resolve().parent
    for path in sorted(here.glob("*.py")) + sorted(grammar_path("").glob("*")):
        if path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _config_hash(config: KernelConfig) -> str:
    h = hashlib.blake2b(digest_size=16)
    for k in sorted(config.values):
        h.update(f"{k}={config.values[k]}\n".encode())
    return h.hexdigest()


def parse_cached(path: str, source: bytes, config: KernelConfig, use_cache: bool = True) -> FileUnit:
    if not use_cache:
        return parse_file(path, source, config)
    h = hashlib.blake2b(digest_size=20)
    h.update(frontend_hash().encode())
    h.update(_config_hash(config).encode())
    h.update(path.encode() + b"\0")
    h.update(source)
    key = h.hexdigest()
    where = cache_dir() / key[:2] / f"{key}.pickle"
    unit = pickles.load(where)
    if isinstance(unit, FileUnit):
        return unit
    unit = parse_file(path, source, config)
    pickles.store(where, unit)
    return unit
