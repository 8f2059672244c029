"""A series judged against its base: apply it patch by patch to a tree or a
bundled baseline, run the model after every prefix, classify findings."""

from kvmplan.analyze.config import Accept, Config, ConfigError, load_config
from kvmplan.analyze.run import (
    ModelRun, PatchResult, Review, TraceStep, Tracked, analyze, identity,
)
from kvmplan.analyze.tree import TreeState

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kvmplan.mail import Series

__all__ = [
    "Accept", "Config", "ConfigError", "ModelRun", "PatchResult", "Review", "TraceStep",
    "Tracked", "TreeState", "analyze", "identity", "load_config", "open_base",
]


def open_base(tree: str | None, series: "Series", baseline: str | None = None
              ) -> tuple[object, str, str, str]:
    """(base state, name, reason, mode) for a tree path or, without one, a
    bundled baseline: the one `baseline` names, else the release the cover's
    `base-commit:` is, else the one the series places best on (most hunks
    applied or already present; the newest on a tie).
    Raises ValueError with a one-line reason when neither can be used."""
    from pathlib import Path

    from kvmplan.source import SourceTree, kernel_release

    if tree is not None:
        root = Path(tree)
        if not (root / "virt" / "kvm").is_dir():
            raise ValueError(f"--tree {tree}: not a kernel tree (no virt/kvm)")
        release = kernel_release(root)[1]
        # the directory's name and release, not the full path: output must
        # not depend on where the tree was extracted
        name = f"tree {root.resolve().name}" + (f" (linux {release})" if release else "")
        return TreeState(SourceTree(root)), name, "--tree", "tree"
    from kvmplan import baseline as bl

    try:
        chosen, reason = bl.select(series.base_commit, baseline)
        if baseline is None and series.patches and not any(i.commit and series.base_commit and
                                        i.commit.startswith(series.base_commit.lower())
                                        for i in bl.available()):
            chosen, reason = _best_placed(series, chosen, reason)
    except (KeyError, ValueError, OSError) as exc:
        raise ValueError(f"baseline: {exc}") from None
    return chosen.start(), f"baseline {chosen.info.name} ({chosen.info.release})", reason, "baseline"


def _best_placed(series: "Series", newest: object, why: str) -> tuple[object, str]:
    """The baseline the series' hunks place best on, when its base-commit
    names none: a 2022 series belongs on 6.1, not on code it predates."""
    from kvmplan import baseline as bl

    scores = []
    for rank, info in enumerate(bl.available()):
        base = bl.load(info.name)
        state = base.start()
        placed = total = 0
        for p in series.patches:
            state, outcomes, _ = state.apply(p.files)
            for o in outcomes:
                total += len(o.hunks)
                placed += sum(1 for h in o.hunks if h.status != "failed")
        scores.append((placed, -rank, info.name, base, total))
    scores.sort(reverse=True)
    best = scores[0]
    others = ", ".join(f"{name} {placed}/{total}" for placed, _, name, _, total in scores[1:])
    why = why.replace(": newest baseline", "").replace("newest baseline", "").rstrip(": ")
    lead = f"{why}: " if why else ""
    return best[3], (f"{lead}the series places best on {best[2]} "
                     f"({best[0]}/{best[4]} hunks applied or present; {others})")
