"""The on-disk caches (parse results, model results) as pickles, read only
where nobody but the user could have written them.

Loading a pickle runs code, so a cache file is loaded only when it, and every
directory from the cache root down to it, is owned by the user and writable
by nobody else. Anything else is refused with one warning line on stderr and
the cache is not used (the work is redone). Directories are made 0700, files
0600. The cache root is `$KVMPLAN_CACHE`, else `$XDG_CACHE_HOME/kvmplan`,
else `~/.cache/kvmplan`.
"""

from __future__ import annotations

import os
import pickle
import stat
import sys
from pathlib import Path
from typing import Any

_warned: set[str] = set()


def cache_root() -> Path:
    base = os.environ.get("KVMPLAN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kvmplan")
    return Path(base)


def _distrust(path: Path) -> str:
    """Why `path` may not be trusted, or "" (also "" when it does not exist)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"cannot be checked ({exc.strerror or exc})"
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link"
    if st.st_uid != os.getuid():
        return f"is owned by uid {st.st_uid}, not by you"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "is writable by group or others"
    return ""


def _chain(root: Path, path: Path) -> list[Path]:
    """root, the directories below it down to path, and path."""
    out = [root]
    for part in path.relative_to(root).parts:
        out.append(out[-1] / part)
    return out


def _trusted(root: Path, path: Path) -> bool:
    for p in _chain(root, path):
        why = _distrust(p)
        if why:
            key = str(root)
            if key not in _warned:
                _warned.add(key)
                sys.stderr.write(f"kvmplan: warning: cache {p} {why}: not used (set "
                                 "KVMPLAN_CACHE to a directory of your own)\n")
            return False
    return True


def load(path: Path, root: Path | None = None) -> Any | None:
    """The object pickled at `path`, or None (absent, unreadable, or not trusted)."""
    root = root or cache_root()
    # the directories first, so an untrusted cache is refused (and said) once,
    # before worker processes are forked, even when this file is absent
    if not _trusted(root, path.parent) or not path.is_file() or not _trusted(root, path):
        return None
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError,
            ValueError, TypeError, IndexError):
        return None


def store(path: Path, value: Any, root: Path | None = None) -> None:
    """Pickle `value` at `path` (atomically); nothing when the cache can't be trusted."""
    root = root or cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        for d in _chain(root, path.parent):
            if not d.exists():
                d.mkdir(mode=0o700)
        if not _trusted(root, path.parent):
            return
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass
