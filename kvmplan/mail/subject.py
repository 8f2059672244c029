"""Patch subjects: `Re: [RFC PATCH net-next v2 03/07] title`, parsed as b4 does."""

from __future__ import annotations

import re
from dataclasses import dataclass

# "Re:", "RE:", "Aw:", "Fwd:" and friends, also stacked ("Re: Re:", "Re[2]:").
_REPLY = re.compile(r"^\s*(?:re|aw|sv|antw|fwd?)(?:\[\d+\])?\s*:\s*", re.IGNORECASE)
_BRACKET = re.compile(r"^\s*\[([^\]]*)\]\s*")
_COUNTER = re.compile(r"^0*(\d+)/0*(\d+)$")
_VERSION = re.compile(r"^v(\d+)(?:\.\d+)?$", re.IGNORECASE)
_PATCH_VERSION = re.compile(r"^(?:patch|rfc)v(\d+)$", re.IGNORECASE)

# No real series has more patches or versions than this (the largest KVM
# series seen run to ~130 patches); larger numbers come from junk or hostile
# mail, and would cost memory (every missing k) or overflow storage.
MAX_NUMBER = 999


@dataclass(frozen=True)
class Subject:
    """What a subject line says about the mail.

    `version` is 1 when no `vN` is given (b4's rule: `[PATCH 00/44]` is v1).
    `index`/`expected` are k and M of `k/M`; a bare `[PATCH]` is 1/1.
    `prefixes` keeps the other bracket words (RFC, RESEND, net-next ...).
    """

    title: str
    is_reply: bool
    is_patch: bool
    version: int
    index: int | None
    expected: int | None
    prefixes: tuple[str, ...]
    problem: str = ""       # why a patch-like subject was not taken as a patch
    versioned: bool = False  # the subject names its vN (else version 1 is assumed)

    @property
    def is_cover(self) -> bool:
        return self.is_patch and self.index == 0

    @property
    def is_rfc(self) -> bool:
        return any(p.upper() == "RFC" for p in self.prefixes)


def parse_subject(subject: str) -> Subject:
    """Parse reply markers, bracket prefixes, version and counter of a subject."""
    rest = " ".join(subject.split())
    is_reply = False
    words: list[str] = []
    while True:
        match = _REPLY.match(rest)
        if match:
            is_reply = True
            rest = rest[match.end() :]
            continue
        match = _BRACKET.match(rest)
        if match:
            words.extend(re.split(r"[\s,]+", match.group(1).strip()))
            rest = rest[match.end() :]
            continue
        break

    version: int | None = None
    index: int | None = None
    expected: int | None = None
    prefixes: list[str] = []
    is_patch = False
    problem = ""
    for word in filter(None, words):
        counter = _COUNTER.match(word)
        if counter and index is None:
            k, m = counter.group(1), counter.group(2)
            if len(k) > 3 or len(m) > 3 or int(k) > MAX_NUMBER or int(m) > MAX_NUMBER:
                problem = f"patch number {word[:24]} out of range (at most {MAX_NUMBER})"
                continue
            index, expected = int(k), int(m)
            continue
        upper = word.upper()
        found = _VERSION.match(word) or _PATCH_VERSION.match(word)
        if found and version is None and (len(found.group(1)) > 3
                                          or int(found.group(1)) > MAX_NUMBER):
            problem = f"version {word[:24]} out of range (at most v{MAX_NUMBER})"
            continue
        if found and version is None:
            version = int(found.group(1))
            if upper.startswith(("PATCH", "RFC")):
                is_patch = True
                prefixes.append("RFC" if upper.startswith("RFC") else "PATCH")
            continue
        if upper in ("PATCH", "RFC"):
            is_patch = True
        prefixes.append(word)
    if index is not None and words:
        is_patch = True
    if problem:
        is_patch, index, expected = False, None, None
    if is_patch and index is None:
        index, expected = 1, 1
    return Subject(
        title=rest.strip(),
        is_reply=is_reply,
        is_patch=is_patch,
        version=version if version is not None and version > 0 else 1,
        index=index,
        expected=expected,
        prefixes=tuple(prefixes),
        problem=problem,
        versioned=version is not None and version > 0,
    )
