"""A series judged against its base: apply it patch by patch to a tree or a
bundled baseline, run the model after every prefix, classify findings."""

from kvmplan.analyze.config import Accept, Config, ConfigError, load_config
from kvmplan.analyze.run import (
    ModelRun, PatchResult, Review, TraceStep, Tracked, analyze, identity, model_key,
)
from kvmplan.analyze.tree import TreeState

__all__ = [
    "Accept", "Config", "ConfigError", "ModelRun", "PatchResult", "Review", "TraceStep",
    "Tracked", "TreeState", "analyze", "identity", "load_config", "model_key", "open_base",
]


def open_base(tree: str | None, base_commit: str | None, baseline: str | None = None
              ) -> tuple[object, str, str, str]:
    """(base state, name, reason, mode) for a tree path or, without one, the
    bundled baseline picked from `base_commit` (or named by `baseline`).
    Raises ValueError with a one-line reason when neither can be used."""
    from pathlib import Path

    from kvmplan.source import SourceTree

    if tree is not None:
        root = Path(tree)
        if not (root / "virt" / "kvm").is_dir():
            raise ValueError(f"--tree {tree}: not a kernel tree (no virt/kvm)")
        release = _release(root)
        # the directory's name and release, not the full path: output must
        # not depend on where the tree was extracted
        name = f"tree {root.resolve().name}" + (f" (linux {release})" if release else "")
        return TreeState(SourceTree(root)), name, "--tree", "tree"
    from kvmplan import baseline as bl

    try:
        chosen, reason = bl.select(base_commit, baseline)
    except (KeyError, ValueError, OSError) as exc:
        raise ValueError(f"baseline: {exc}") from None
    return chosen.start(), f"baseline {chosen.info.name} ({chosen.info.release})", reason, "baseline"


def _release(root: "object") -> str:
    import re
    from pathlib import Path

    try:
        text = (Path(str(root)) / "Makefile").read_text(errors="replace")[:2000]
    except OSError:
        return ""
    v = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d+)", text, re.M))
    if "VERSION" not in v:
        return ""
    return ".".join(v[k] for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL") if k in v)
