"""Trailers: `Reviewed-by: Name <addr>` lines in commit messages and replies."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Canonical spelling of the trailers we know; others are kept as written.
KNOWN = {
    name.lower(): name
    for name in (
        "Signed-off-by",
        "Reviewed-by",
        "Acked-by",
        "Tested-by",
        "Reported-by",
        "Suggested-by",
        "Co-developed-by",
        "Nacked-by",
        "Requested-by",
        "Debugged-by",
        "Originally-by",
        "Cc",
        "Link",
        "Fixes",
        "Closes",
        "Message-ID",
        "Change-Id",
    )
}

# What a reply can give to a patch: review and test tags, not authorship.
REVIEW_TRAILERS = frozenset(
    {
        "Reviewed-by",
        "Acked-by",
        "Tested-by",
        "Reported-by",
        "Suggested-by",
        "Nacked-by",
        "Requested-by",
        "Debugged-by",
    }
)

_TRAILER = re.compile(r"^([A-Za-z][A-Za-z0-9-]*[A-Za-z0-9])\s*:\s+(\S.*?)\s*$")


@dataclass(frozen=True)
class Trailer:
    """One trailer. `message_id` names the reply it came from, when it did."""

    name: str
    value: str
    message_id: str | None = None


def _canonical(name: str) -> str | None:
    """The canonical name of a trailer we accept, or None for prose."""
    known = KNOWN.get(name.lower())
    if known is not None:
        return known
    if name.lower().endswith("-by"):
        return "-".join(part.capitalize() if i == 0 else part.lower() for i, part in enumerate(name.split("-")))
    return None


def _is_person_trailer(name: str) -> bool:
    return name.endswith("-by")


def parse_commit_trailers(message: str) -> tuple[Trailer, ...]:
    """Trailers of a commit message: those of its last paragraph, as git reads them.

    A paragraph counts when at least one line is a known trailer; lines that
    are not trailers there (`[sean: tweaked]` notes) are skipped, and
    indented lines continue the trailer above them.
    """
    paragraphs = re.split(r"\n[ \t]*\n", message.strip("\n"))
    if not paragraphs:
        return ()
    found: list[Trailer] = []
    for line in paragraphs[-1].split("\n"):
        if line[:1] in (" ", "\t") and found:
            last = found[-1]
            found[-1] = Trailer(last.name, f"{last.value} {line.strip()}", last.message_id)
            continue
        match = _TRAILER.match(line)
        if not match:
            continue
        name = _canonical(match.group(1))
        if name is not None:
            found.append(Trailer(name, match.group(2)))
    return tuple(found)


def parse_reply_trailers(body: str, message_id: str | None = None) -> tuple[Trailer, ...]:
    """Trailers a reviewer typed in a reply, wherever they stand.

    Quoted lines (`> Reviewed-by: ...`) are someone else's and are skipped;
    reading stops at the signature and at a diff the reviewer proposes,
    since the trailers of such a diff belong to that diff. Person trailers
    need an address, so prose such as "Acked-by: see above" is not taken.
    """
    found: list[Trailer] = []
    for line in body.split("\n"):
        if line.startswith(">"):
            continue
        if line in ("-- ", "--") or line.startswith(("diff --git ", "---")):
            break
        match = _TRAILER.match(line)
        if not match:
            continue
        name = _canonical(match.group(1))
        if name is None:
            continue
        value = match.group(2)
        if _is_person_trailer(name) and "@" not in value:
            continue
        if name == "Fixes" and not re.match(r"^[0-9a-f]{8,40}\b", value):
            continue
        if name in ("Link", "Closes") and "://" not in value:
            continue
        if name in ("Cc", "Message-ID", "Change-Id"):
            continue
        found.append(Trailer(name, value, message_id))
    return tuple(found)
