"""The base a series is judged against: a kernel tree or a bundled baseline,
and which release its line numbers belong to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kvmplan.mail import Series


@dataclass(frozen=True)
class BaseChoice:
    """`state` is the tree or baseline before the series (an analyze.run.Base);
    `name` what it is ("baseline linux-6.1 (6.1.192)"), `reason` why it was
    chosen, `mode` "tree" or "baseline"; `lines` the release the review's
    line numbers belong to; `note` one line when `--tree` is another release
    than the bundled baseline a mail-only run would have used, else ""."""

    state: Any
    name: str
    reason: str
    mode: str
    lines: str
    note: str = ""


def _release_text(release: str, source: str) -> str:
    """"Linux 6.1.192 (Debian linux-source-6.1 6.1.192-2)"."""
    text = f"Linux {release}" if release and release != "unknown" else "an unknown release"
    return text + (f" ({source})" if source.startswith("Debian ") else "")


def open_base(tree: str | None, series: "Series", baseline: str | None = None) -> BaseChoice:
    """A tree path or, without one, a bundled baseline: the one `baseline`
    names, else the release the cover's `base-commit:` is, else the one the
    series places best on (most hunks applied or already present; the newest
    on a tie). Raises ValueError with a one-line reason when neither can be
    used."""
    from pathlib import Path

    from kvmplan.analyze.tree import TreeState
    from kvmplan.baseline.extract import release_info
    from kvmplan.source import SourceTree

    if tree is not None:
        root = Path(tree)
        if not (root / "virt" / "kvm").is_dir():
            raise ValueError(f"--tree {tree}: not a kernel tree (no virt/kvm)")
        info = release_info(root)
        release = "" if info.release == "unknown" else info.release
        # the directory's name and release, not the full path: output must
        # not depend on where the tree was extracted
        name = f"tree {root.resolve().name}" + (f" (linux {release})" if release else "")
        return BaseChoice(TreeState(SourceTree(root)), name, "--tree", "tree",
                          _release_text(info.release, info.source),
                          _tree_note(release, info.source, series, baseline))
    from kvmplan import baseline as bl

    try:
        chosen, reason = bl.select(series.base_commit, baseline)
        if baseline is None and series.patches and not _names_a_release(series.base_commit):
            chosen, reason = _best_placed(series, chosen, reason)
    except (KeyError, ValueError, OSError) as exc:
        raise ValueError(f"baseline: {exc}") from None
    info = chosen.info
    return BaseChoice(chosen.start(), f"baseline {info.name} ({info.release})", reason,
                      "baseline", _release_text(info.release, info.source))


def _names_a_release(base_commit: str | None) -> bool:
    from kvmplan import baseline as bl

    return bool(base_commit) and any(
        i.commit and i.commit.startswith((base_commit or "").lower()) for i in bl.available())


def _tree_note(release: str, source: str, series: "Series", wanted: str | None) -> str:
    """One line when the tree is not the release of the bundled baseline a
    mail-only run would have judged against (the one --baseline or the
    base-commit names, else the one of the tree's major version)."""
    from kvmplan import baseline as bl

    infos = bl.available()
    major = ".".join(release.split(".")[:2])
    pick = None
    if wanted or _names_a_release(series.base_commit):
        try:
            pick = bl.select(series.base_commit, wanted)[0].info
        except (KeyError, ValueError, OSError):
            pick = None
    else:
        pick = next((i for i in infos if i.name == f"linux-{major}"), None)
    if pick is None:
        return ""
    same = pick.release == release and (not source.startswith("Debian ") or source == pick.source)
    if same:
        return ""
    return (f"The bundled baseline {pick.name} is {_release_text(pick.release, pick.source)}: "
            f"a mail-only review's line numbers differ.")


def _best_placed(series: "Series", newest: object, why: str) -> tuple[Any, str]:
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


def series_vendor(series: "Series") -> tuple[str, str]:
    """The x86 vendor module to model, from the files the series touches:
    (vendor, why). Only SVM code touched: svm; otherwise vmx."""
    from kvmplan.graph.build import VENDOR_DIRS

    touched = {v for p in series.patches for fp in p.files for v, d in VENDOR_DIRS.items()
               if fp.path.startswith(d)}
    if touched == {"svm"}:
        return "svm", "the series touches SVM code only"
    if touched == {"vmx"}:
        return "vmx", "the series touches VMX code only"
    if touched:
        return "vmx", "the series touches VMX and SVM code; run again with --vendor svm for SVM"
    return "vmx", "the series touches no vendor code"
