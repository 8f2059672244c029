"""Series assembly the way b4 does it: thread, version, k/M order, replies.

Messages are grouped by thread (Message-ID, In-Reply-To, References) and by
version. The newest version is chosen unless one is asked for; what else
was in the input is said in `info` diagnostics. Replies are never patches,
even with a diff in them; their review trailers go to the patch they answer
(to every patch when they answer the cover letter).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from kvmplan.diagnostics import Diagnostic
from kvmplan.diff import FilePatch, parse_diff, split_patch
from kvmplan.diff.extract import is_diff_start
from kvmplan.mail.errors import InputError
from kvmplan.mail.message import Message, decode_header, parse_address
from kvmplan.mail.subject import Subject, parse_subject
from kvmplan.mail.trailers import (
    REVIEW_TRAILERS,
    Trailer,
    parse_commit_trailers,
    parse_reply_trailers,
)


@dataclass(frozen=True)
class Cover:
    """The cover letter, patch 0/M."""

    message_id: str
    subject: str
    title: str
    author: str
    date: str
    body: str
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class Patch:
    """Patch k/M: its commit message, trailers and parsed diff.

    `author` is the in-body `From:` when there is one (the commit author),
    else the mail's sender. `trailers` are the commit message's own;
    `reply_trailers` those given in replies, each naming its reply.
    `notes` is the text between `---` and the diff (diffstat, changelog),
    `diff` the diff text as parsed, `tail` what follows it (signature).
    """

    index: int
    expected: int
    subject: str
    title: str
    message_id: str
    author: str
    date: str
    in_reply_to: str | None
    commit_message: str
    notes: str
    diff: str
    tail: str
    files: tuple[FilePatch, ...]
    trailers: tuple[Trailer, ...]
    reply_trailers: tuple[Trailer, ...] = ()
    # the mail's own From/To/Cc (`author` may be an in-body From:), for replies
    sender: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    references: tuple[str, ...] = ()

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def removed(self) -> int:
        return sum(f.removed for f in self.files)


@dataclass(frozen=True)
class Reply:
    """A reply in the series' thread.

    `answers` is k of the patch it answers (0 for the cover), found through
    the thread or, when the thread is broken, through its subject; None
    when unknown. `answers_message_id` is that patch's id when it is in the
    input.
    """

    message_id: str
    in_reply_to: str | None
    subject: str
    author: str
    date: str
    answers: int | None
    answers_message_id: str | None
    has_diff: bool
    trailers: tuple[Trailer, ...]


@dataclass(frozen=True)
class Duplicate:
    """Patch k sent more than once; the first message id is the one used."""

    index: int
    message_ids: tuple[str, ...]


@dataclass(frozen=True)
class Series:
    """One version of one patch series, or the replies to one when no patch came."""

    title: str
    version: int
    expected: int | None
    prefixes: tuple[str, ...]
    author: str
    base_commit: str | None
    change_id: str | None
    cover: Cover | None
    patches: tuple[Patch, ...]
    missing: tuple[int, ...]
    duplicates: tuple[Duplicate, ...]
    replies: tuple[Reply, ...]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def replies_only(self) -> bool:
        return not self.patches and self.cover is None


_BASE_COMMIT = re.compile(r"^base-commit:\s*([0-9a-fA-F]{7,64})\s*$", re.MULTILINE)
_CHANGE_ID = re.compile(r"^change-id:\s*(\S+)\s*$", re.MULTILINE)
_INBODY_HEADER = re.compile(r"^(From|Subject|Date):[ \t]*(.*)$", re.IGNORECASE)


class _Threads:
    """Union-find over Message-IDs: one root per thread."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self._parent.setdefault(x, x)
        while parent != x:
            grand = self._parent[parent]
            self._parent[x] = grand
            x, parent = parent, grand
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller id wins so that roots do not depend on input order.
            lo, hi = sorted((ra, rb))
            self._parent[hi] = lo


@dataclass
class _Candidate:
    """Messages that may form one series version, before assembly."""

    version: int
    thread: str
    messages: list[tuple[Message, Subject]] = field(default_factory=list)
    first_seen: int = 0

    def describe(self) -> str:
        subjects = [s for _, s in self.messages]
        cover = next((s for s in subjects if s.index == 0), None)
        title = (cover or min(subjects, key=lambda s: s.index or 0)).title
        count = sum(1 for s in subjects if s.index)
        covered = " + cover" if cover else ""
        return f"v{self.version} '{title}' ({count} patch{'es' if count != 1 else ''}{covered})"

    def title(self) -> str:
        subjects = [s for _, s in self.messages]
        cover = next((s for s in subjects if s.index == 0), None)
        return (cover or min(subjects, key=lambda s: s.index or 0)).title

    def family(self) -> str:
        """Versions of one series share it: the title, as b4 matches them."""
        return " ".join(self.title().lower().split())

    def first_id(self) -> str:
        """The Message-ID that names this series version (cover, else the first patch)."""
        return min(self.messages, key=lambda ms: ms[1].index or 0)[0].message_id


def assemble(
    messages: Sequence[Message],
    *,
    version: int | None = None,
    diagnostics: Iterable[Diagnostic] = (),
    message_id: str | None = None,
) -> Series:
    """Assemble one series version from `messages`: the one holding
    `message_id` when given; else, of the series with the most patches in
    the input (others are listed, never merged), the newest version or
    `version`.

    Raises InputError when there is no message, neither a patch nor a reply
    to one, or `message_id` is in no series.
    """
    diags: list[Diagnostic] = list(diagnostics)
    if not messages:
        raise InputError("no mail found in the input")
    unique = _dedupe(messages, diags)
    subjects = {m.message_id: parse_subject(m.subject) for m in unique}
    _inherit_cover_versions(unique, subjects, diags)
    for m in unique:
        if subjects[m.message_id].problem:
            diags.append(Diagnostic("warning", f"not taken as a patch: "
                                    f"{subjects[m.message_id].problem}", m.message_id))
    by_id = {m.message_id: m for m in unique}
    threads = _Threads()
    for m in unique:
        threads.find(m.message_id)
        for parent in m.parents:
            threads.union(m.message_id, parent)

    patch_msgs = [m for m in unique if subjects[m.message_id].is_patch and not subjects[m.message_id].is_reply]
    reply_msgs = [
        m
        for m in unique
        if subjects[m.message_id].is_reply
        or (not subjects[m.message_id].is_patch and m.parents)
    ]
    patch_ids = {m.message_id for m in patch_msgs}
    reply_ids = {m.message_id for m in reply_msgs}

    candidates = _candidates(patch_msgs, subjects, threads, unique)
    replies_only = not candidates
    if replies_only:
        patch_subject_replies = [m for m in reply_msgs if subjects[m.message_id].is_patch]
        candidates = _candidates(patch_subject_replies, subjects, threads, unique)
        if not candidates:
            what = f"{len(unique)} message{'s' if len(unique) != 1 else ''}"
            raise InputError(f"no patch series found: {what} read, none is a patch or a reply to one")
    chosen = _choose(candidates, version, diags, message_id)
    chosen_ids = {m.message_id for m, _ in chosen.messages}

    cover: Cover | None = None
    patches: list[Patch] = []
    duplicates: list[Duplicate] = []
    if not replies_only:
        cover, patches, duplicates = _build_patches(chosen, diags)
    kept_patch_ids = {p.message_id for p in patches} | ({cover.message_id} if cover else set())

    # Which patch of which candidate each known patch id is, for replies.
    owner: dict[str, tuple[int, int | None]] = {}
    for n, cand in enumerate(candidates):
        if replies_only:
            continue
        for m, s in cand.messages:
            owner[m.message_id] = (n, s.index)
    chosen_n = candidates.index(chosen)
    patch_by_index = {p.index: p for p in patches}

    replies: list[Reply] = []
    resolved: dict[str, tuple[int, int | None] | None] = {}
    left_aside = 0
    for m in reply_msgs:
        target = _resolve(m.message_id, by_id, owner, reply_ids, resolved, set())
        subj = subjects[m.message_id]
        answers: int | None
        answers_id: str | None = None
        if target is not None:
            if target[0] != chosen_n:
                left_aside += 1
                continue
            answers = target[1]
            answers_id = _message_id_of(answers, cover, patch_by_index)
        elif replies_only and m.message_id in chosen_ids:
            answers = subj.index if subj.is_patch else None
        elif subj.is_patch and subj.version != chosen.version:
            # Same thread maybe, but its subject names another version.
            left_aside += 1
            continue
        elif threads.find(m.message_id) == chosen.thread or (
            subj.is_patch and _title_matches(subj, cover, patch_by_index)
        ):
            # The thread is broken (a parent is not in the input): trust the
            # subject's k when it names this version.
            answers = subj.index if subj.is_patch else None
            answers_id = _message_id_of(answers, cover, patch_by_index)
        else:
            left_aside += 1
            continue
        trailers = parse_reply_trailers(m.body, m.message_id)
        replies.append(
            Reply(
                message_id=m.message_id,
                in_reply_to=m.in_reply_to,
                subject=m.subject,
                author=m.author,
                date=m.date,
                answers=answers,
                answers_message_id=answers_id,
                has_diff=_has_unquoted_diff(m.body),
                trailers=trailers,
            )
        )

    patches = _attach_reply_trailers(patches, replies)
    accounted = chosen_ids | patch_ids | reply_ids
    stray = [m for m in unique if m.message_id not in accounted]
    for m in stray:
        diags.append(Diagnostic("info", f"not a patch or a reply, left aside: {m.subject!r}", m.message_id))
    if left_aside:
        diags.append(
            Diagnostic("info", f"{left_aside} repl{'ies' if left_aside != 1 else 'y'} to other series left aside")
        )

    used = kept_patch_ids | {r.message_id for r in replies} | (chosen_ids if replies_only else set())
    message_diags = [d for m in unique if m.message_id in used for d in m.diagnostics]

    expected = _expected(chosen, diags)
    present = {p.index for p in patches}
    missing: tuple[int, ...] = ()
    if not replies_only and expected is not None:
        missing = tuple(k for k in range(1, expected + 1) if k not in present)
    if missing:
        diags.append(Diagnostic("warning", f"{len(missing)} of {expected} patches missing: {format_ranges(missing)}"))
    if replies_only:
        diags.append(
            Diagnostic(
                "warning",
                f"no patches found: only {len(replies)} repl{'ies' if len(replies) != 1 else 'y'} "
                f"to v{chosen.version} of this series",
            )
        )

    base_commit, change_id = _base_and_change(cover, patches, diags)
    first = cover or (patches[0] if patches else None)
    title = first.title if first is not None else _replies_title(chosen)
    author = first.author if first is not None else ""
    prefixes = _prefixes(chosen)
    return Series(
        title=title,
        version=chosen.version,
        expected=expected,
        prefixes=prefixes,
        author=author,
        base_commit=base_commit,
        change_id=change_id,
        cover=cover,
        patches=tuple(patches),
        missing=missing,
        duplicates=tuple(duplicates),
        replies=tuple(replies),
        diagnostics=tuple(message_diags + diags),
    )


def _inherit_cover_versions(messages: Sequence[Message], subjects: dict[str, Subject],
                            diags: list[Diagnostic]) -> None:
    """A `[PATCH k/M]` without vN sent in reply to a `[PATCH vN 0/M]` cover
    letter belongs to vN, as b4 reads it: give it the cover's version."""
    for m in messages:
        s = subjects[m.message_id]
        if not s.is_patch or s.is_reply or s.versioned or not s.index:
            continue
        for parent in m.parents:
            ps = subjects.get(parent)
            if ps is not None and ps.is_cover and not ps.is_reply and ps.versioned \
                    and ps.expected == s.expected:
                subjects[m.message_id] = replace(s, version=ps.version, versioned=True)
                diags.append(Diagnostic("info", f"patch {s.index}/{s.expected} names no version; "
                                        f"it is v{ps.version}, like the cover letter it answers",
                                        m.message_id))
                break


def _dedupe(messages: Sequence[Message], diags: list[Diagnostic]) -> list[Message]:
    seen: dict[str, int] = {}
    unique: list[Message] = []
    for m in messages:
        if m.message_id in seen:
            seen[m.message_id] += 1
            continue
        seen[m.message_id] = 1
        unique.append(m)
    for mid, count in seen.items():
        if count > 1:
            diags.append(Diagnostic("info", f"message appears {count} times; the first copy is used", mid))
    return unique


def _candidates(
    msgs: list[Message],
    subjects: dict[str, Subject],
    threads: _Threads,
    everything: list[Message],
) -> list[_Candidate]:
    """Group messages by (thread, version); unthreaded patches join their version."""
    position = {m.message_id: n for n, m in enumerate(everything)}
    linked = {p for m in everything for p in m.parents} | {m.message_id for m in everything if m.parents}
    groups: dict[tuple[str, int], _Candidate] = {}
    loose: dict[tuple[int, int | None, str], list[Message]] = {}
    for m in msgs:
        s = subjects[m.message_id]
        if m.message_id not in linked:
            # `git format-patch` without --thread: no thread to go by, so
            # version, length and sender; a lone 1/1 patch is its own series.
            who = m.message_id if s.expected in (None, 1) else m.author
            loose.setdefault((s.version, s.expected, who), []).append(m)
            continue
        key = (threads.find(m.message_id), s.version)
        cand = groups.setdefault(key, _Candidate(s.version, key[0], first_seen=position[m.message_id]))
        cand.messages.append((m, s))
    for (ver, expected, _who), ms in loose.items():
        same = [
            c for c in groups.values()
            if c.version == ver and any(s.expected == expected for _, s in c.messages)
        ]
        if len(same) == 1 and expected not in (None, 1):
            target = same[0]
        else:
            first = ms[0].message_id
            target = groups.setdefault(
                (threads.find(first), ver), _Candidate(ver, threads.find(first), first_seen=position[first])
            )
        target.messages.extend((m, subjects[m.message_id]) for m in ms)
        target.messages.sort(key=lambda ms_: position[ms_[0].message_id])
        target.first_seen = min(target.first_seen, position[ms[0].message_id])
    return sorted(groups.values(), key=lambda c: c.first_seen)


def _choose(candidates: list[_Candidate], version: int | None, diags: list[Diagnostic],
            message_id: str | None = None) -> _Candidate:
    if message_id is not None:
        wanted = message_id.strip().strip("<>")
        pool = [c for c in candidates if any(m.message_id == wanted for m, _ in c.messages)]
        if not pool:
            raise InputError(f"no series in the input holds the message <{wanted}>")
    else:
        # distinct series are not versions of one another: take the one with
        # the most patch messages (then the first), and list the others
        sizes: dict[str, int] = {}
        for c in candidates:
            sizes[c.family()] = sizes.get(c.family(), 0) + len(c.messages)
        first = {c.family(): c.first_seen for c in reversed(candidates)}
        family = min(sizes, key=lambda f: (-sizes[f], first[f]))
        pool = [c for c in candidates if c.family() == family]
    if version is not None:
        pool = [c for c in pool if c.version == version]
        if not pool:
            found = ", ".join(f"v{v}" for v in sorted({c.version for c in candidates}))
            raise InputError(f"no version {version} of a series in the input (found {found})")
    elif message_id is None:
        newest = max(c.version for c in pool)
        pool = [c for c in pool if c.version == newest]
    # Several series of that version: the one with most messages, then the first.
    chosen = min(pool, key=lambda c: (-len(c.messages), c.first_seen))
    for c in candidates:
        if c is not chosen:
            same = c.family() == chosen.family()
            hint = (f"; choose it with --series-version {c.version}"
                    if same and c.version != chosen.version else
                    f"; choose it with --series {c.first_id()}")
            diags.append(Diagnostic("info", f"the input also holds {c.describe()}{hint}"))
    return chosen


def _inbody_headers(body: str) -> tuple[dict[str, str], str]:
    """In-body `From:`/`Subject:`/`Date:` lines at the top of a body, and the rest."""
    lines = body.split("\n")
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    headers: dict[str, str] = {}
    start = i
    while i < len(lines):
        match = _INBODY_HEADER.match(lines[i])
        if not match:
            break
        headers[match.group(1).lower()] = decode_header(match.group(2))
        i += 1
    if not headers or (i < len(lines) and lines[i].strip()):
        # Not a header block (no blank line after it): plain text.
        return {}, "\n".join(lines[start:])
    return headers, "\n".join(lines[i:])


def _build_patches(
    chosen: _Candidate, diags: list[Diagnostic]
) -> tuple[Cover | None, list[Patch], list[Duplicate]]:
    by_index: dict[int, list[tuple[Message, Subject]]] = {}
    for m, s in chosen.messages:
        by_index.setdefault(s.index or 0, []).append((m, s))
    duplicates: list[Duplicate] = []
    cover: Cover | None = None
    patches: list[Patch] = []
    for k in sorted(by_index):
        group = by_index[k]
        if len(group) > 1:
            ids = tuple(m.message_id for m, _ in group)
            duplicates.append(Duplicate(k, ids))
            what = "cover letter" if k == 0 else f"patch {k}"
            diags.append(
                Diagnostic("warning", f"{what} sent {len(ids)} times; using the first", ids[0])
            )
        m, s = group[0]
        if k == 0:
            cover = Cover(m.message_id, m.subject, s.title, m.author, m.date, m.body,
                          m.to, m.cc, m.references)
        else:
            patches.append(_patch(m, s, diags))
    return cover, patches, duplicates


def _patch(m: Message, s: Subject, diags: list[Diagnostic]) -> Patch:
    headers, body = _inbody_headers(m.body)
    author = m.author
    if "from" in headers:
        author = parse_address(headers["from"]) or m.author
    parts = split_patch(body)
    if not parts.diff:
        # A patch sent as an attachment: the diff is in a text part.
        for attachment in m.attachments:
            attached = split_patch(attachment.text)
            if attached.diff:
                parts = type(parts)(parts.message or attached.message, parts.notes, attached.diff, attached.tail)
                break
    files, problems = parse_diff(parts.diff) if parts.diff else ((), ())
    diags.extend(d.for_message(m.message_id) for d in problems)
    if not parts.diff:
        diags.append(Diagnostic("warning", f"patch {s.index}/{s.expected} has no diff", m.message_id))
    return Patch(
        index=s.index or 0,
        expected=s.expected or 0,
        subject=m.subject,
        title=s.title,
        message_id=m.message_id,
        author=author,
        date=m.date,
        in_reply_to=m.in_reply_to,
        commit_message=parts.message,
        notes=parts.notes,
        diff=parts.diff,
        tail=parts.tail,
        files=files,
        trailers=parse_commit_trailers(parts.message),
        sender=m.author,
        to=m.to,
        cc=m.cc,
        references=m.references,
    )


def _resolve(
    mid: str,
    by_id: dict[str, Message],
    owner: dict[str, tuple[int, int | None]],
    reply_ids: set[str],
    memo: dict[str, tuple[int, int | None] | None],
    visiting: set[str],
) -> tuple[int, int | None] | None:
    """(candidate, k) of the patch or cover a reply answers, through its ancestors."""
    if mid in memo:
        return memo[mid]
    if mid in visiting:
        return None
    visiting.add(mid)
    result: tuple[int, int | None] | None = None
    message = by_id.get(mid)
    for parent in message.parents if message is not None else ():
        if parent in owner:
            result = owner[parent]
            break
        if parent in reply_ids:
            result = _resolve(parent, by_id, owner, reply_ids, memo, visiting)
            if result is not None:
                break
    visiting.discard(mid)
    memo[mid] = result
    return result


def _message_id_of(index: int | None, cover: Cover | None, patches: dict[int, Patch]) -> str | None:
    if index == 0:
        return cover.message_id if cover else None
    patch = patches.get(index) if index is not None else None
    return patch.message_id if patch else None


def _title_matches(subj: Subject, cover: Cover | None, patches: dict[int, Patch]) -> bool:
    if subj.index == 0:
        return cover is not None and cover.title == subj.title
    patch = patches.get(subj.index) if subj.index is not None else None
    return patch is not None and patch.title == subj.title


def _has_unquoted_diff(body: str) -> bool:
    lines = body.split("\n")
    return any(is_diff_start(lines, i) for i in range(len(lines)) if lines[i][:1] in ("d", "-"))


def _attach_reply_trailers(patches: list[Patch], replies: list[Reply]) -> list[Patch]:
    given: dict[int, list[Trailer]] = {}
    for reply in replies:
        review = [t for t in reply.trailers if t.name in REVIEW_TRAILERS]
        if not review or reply.answers is None:
            continue
        targets = [p.index for p in patches] if reply.answers == 0 else [reply.answers]
        for k in targets:
            given.setdefault(k, []).extend(review)
    out = []
    for p in patches:
        own = {(t.name, t.value) for t in p.trailers}
        seen: set[tuple[str, str]] = set()
        extra = []
        for t in given.get(p.index, []):
            if (t.name, t.value) in own or (t.name, t.value) in seen:
                continue
            seen.add((t.name, t.value))
            extra.append(t)
        out.append(p if not extra else _with_reply_trailers(p, tuple(extra)))
    return out


def _with_reply_trailers(p: Patch, trailers: tuple[Trailer, ...]) -> Patch:
    from dataclasses import replace

    return replace(p, reply_trailers=trailers)


def _expected(chosen: _Candidate, diags: list[Diagnostic]) -> int | None:
    counts = Counter(s.expected for _, s in chosen.messages if s.expected is not None)
    if not counts:
        return None
    if len(counts) > 1:
        seen = ", ".join(str(n) for n in sorted(counts))
        diags.append(Diagnostic("warning", f"messages disagree on the series length ({seen}); using the largest"))
    expected = max(counts)
    beyond = sorted({s.index for _, s in chosen.messages if s.index is not None and s.index > expected})
    if beyond:
        diags.append(Diagnostic("warning", f"patches numbered beyond {expected}: {format_ranges(beyond)}"))
    return expected


def _base_and_change(
    cover: Cover | None, patches: list[Patch], diags: list[Diagnostic]
) -> tuple[str | None, str | None]:
    # The cover letter says it; without one, format-patch --base writes it
    # after the diff of the last patch (`tail`), or in the notes.
    texts = ([cover.body] if cover else []) + [t for p in reversed(patches) for t in (p.tail, p.notes)]
    bases = [m.group(1).lower() for t in texts for m in [_BASE_COMMIT.search(t)] if m]
    if len(set(bases)) > 1:
        diags.append(Diagnostic("warning", f"conflicting base-commit lines; using {bases[0]}"))
    found = _CHANGE_ID.search(cover.body) if cover is not None else None
    return (bases[0] if bases else None), (found.group(1) if found else None)


def _replies_title(chosen: _Candidate) -> str:
    subjects = [s for _, s in chosen.messages]
    cover = next((s for s in subjects if s.index == 0), None)
    return (cover or min(subjects, key=lambda s: s.index if s.index is not None else 1 << 30)).title


def _prefixes(chosen: _Candidate) -> tuple[str, ...]:
    counts = Counter(s.prefixes for _, s in chosen.messages)
    return counts.most_common(1)[0][0] if counts else ()


def format_ranges(numbers: Iterable[int]) -> str:
    """'1-2, 4-103' for [1, 2, 4, 5, ..., 103]."""
    out: list[str] = []
    nums = sorted(numbers)
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        out.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ", ".join(out)
