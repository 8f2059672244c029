"""What one arriving mail is to the bot: a patch or cover letter of which
series version, a reply, or something else; and its identity.

A series version is identified the way it threads on a list: the root of
its thread (the first References: entry, else In-Reply-To:, else the mail
itself), its version, its patch count M and its sender. A v2 sent in reply
to v1 shares v1's root but not its version, so it is a new series. Patches
k/M sent without any threading group by sender, version, M and the (UTC)
day of their Date:.

A mail's identity is its Message-ID plus a hash of its content: the
headers a sender writes and the body, not the transport headers a list or
an archive adds (Received:, List-*, DKIM, X-*). Two list copies of one
mail are then one mail; the same Message-ID with other content is not.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
import time
from dataclasses import dataclass

from kvmplan.mail import parse_message, parse_subject
from kvmplan.mail.message import decode_header, printable

# Headers that are the sender's; everything else may be added on the way.
_CONTENT_HEADERS = ("from", "subject", "date", "message-id", "in-reply-to", "references",
                    "mime-version", "content-type", "content-transfer-encoding")
_HEADER = re.compile(rb"^([!-9;-~]+):[ \t]*(.*)$")
_MSGID = re.compile(r"<([^<>\s]+)>")


@dataclass(frozen=True)
class SeriesId:
    key: str
    root: str
    version: int
    expected: int
    sender: str


@dataclass(frozen=True)
class Arrival:
    """One mail as the bot files it."""

    msgid: str
    hash: str
    kind: str              # cover | patch | reply | other | too-large
    subject: str
    date: float | None
    series: SeriesId | None
    idx: int | None
    title: str


def _split(raw: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Unfolded (lower-case name, value) headers and the body, from raw bytes."""
    data = raw.replace(b"\r\n", b"\n")
    head, sep, body = data.partition(b"\n\n")
    if not sep:
        head, body = data, b""
    headers: list[tuple[str, str]] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip().decode("utf-8", "replace"))
            continue
        m = _HEADER.match(line)
        if m:
            headers.append((m.group(1).decode("ascii", "replace").lower(),
                            m.group(2).strip().decode("utf-8", "replace")))
    return headers, body


def _hash(headers: list[tuple[str, str]], body: bytes) -> str:
    """sha256 over the sender's headers (normalised whitespace) and the body."""
    h = hashlib.sha256()
    for name in _CONTENT_HEADERS:
        for n, value in headers:
            if n == name:
                h.update(f"{n}:{' '.join(value.split())}\n".encode())
    h.update(b"\n")
    h.update(body.rstrip(b"\n \t"))
    return h.hexdigest()[:32]


def _date(value: str) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    try:
        return when.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def _address(value: str) -> str:
    return email.utils.parseaddr(value)[1].strip().lower()


def _message_id(value: str, raw: bytes) -> str:
    """As kvmplan.mail.parse_message reads it, synthetic id included."""
    value = printable(value)
    ids = _MSGID.findall(value)
    if ids:
        return str(ids[0])
    bare = value.strip().strip("<>").strip()
    if bare and " " not in bare:
        return bare
    return "kvmplan-" + hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()[:16] + "@local"


def series_id(root: str, version: int, expected: int, sender: str) -> SeriesId:
    key = hashlib.sha256(f"{root}\0{version}\0{expected}\0{sender}".encode()).hexdigest()[:16]
    return SeriesId(key, root, version, expected, sender)


def oversized(raw: bytes, origin: str) -> Arrival:
    """A mail over the size limit: only its headers are read."""
    headers, _ = _split(raw[:65536])
    get = {n: v for n, v in reversed(headers)}
    msgid = _message_id(get.get("message-id", ""), raw)
    subject = printable(decode_header(get.get("subject", "")))
    s = parse_subject(subject)
    series = None
    if s.is_patch and not s.is_reply:
        refs = _MSGID.findall(get.get("references", ""))
        parent = _MSGID.findall(get.get("in-reply-to", ""))
        root = refs[0] if refs else parent[0] if parent else msgid
        series = series_id(root, s.version, s.expected or 1, _address(get.get("from", "")))
    return Arrival(msgid, hashlib.sha256(raw).hexdigest()[:32], "too-large", subject,
                   _date(get.get("date", "")), series, s.index if series else None, s.title)


def unreadable(raw: bytes) -> Arrival:
    """A mail the bot could not read: remembered (so not retried), never reviewed."""
    digest = hashlib.sha256(raw).hexdigest()[:32]
    return Arrival(f"kvmplan-unreadable-{digest[:16]}@local", digest, "other", "", None, None,
                   None, "")


def classify(raw: bytes, origin: str) -> Arrival:
    """File one mail. Only a patch or cover letter is decoded in full (its
    sender and threading decide its series); for the rest, most of a list's
    traffic, the headers are enough."""
    headers, body = _split(raw)
    digest = _hash(headers, body)
    get = {n: v for n, v in reversed(headers)}
    s = parse_subject(printable(decode_header(get.get("subject", ""))))
    if s.is_patch and not s.is_reply:
        m = parse_message(raw, origin)
        sender = _address(m.author)
        date = _date(m.date)
        root = m.references[0] if m.references else m.in_reply_to or m.message_id
        if not m.parents and s.index and (s.expected or 1) > 1:
            # Sent without threading: the patches of one series share no
            # root, so group them by sender, version, M and the day sent.
            day = time.strftime("%Y-%m-%d", time.gmtime(date)) if date is not None else "?"
            root = f"unthreaded:{sender}:{day}"
        sid = series_id(root, s.version, s.expected or 1, sender)
        kind = "cover" if s.index == 0 else "patch"
        return Arrival(m.message_id, digest, kind, m.subject, date, sid, s.index, s.title)
    msgid = _message_id(get.get("message-id", ""), raw)
    threaded = bool(_MSGID.search(get.get("in-reply-to", "") + get.get("references", "")))
    kind = "reply" if s.is_reply or threaded else "other"
    return Arrival(msgid, digest, kind, printable(decode_header(get.get("subject", ""))),
                   _date(get.get("date", "")), None, None, s.title)


_FROM_QUOTED = re.compile(rb"^(>*From )", re.MULTILINE)


def mboxrd(raws: list[bytes]) -> bytes:
    """The messages as one mboxrd file (lore's format)."""
    out = bytearray()
    for raw in raws:
        body = raw.replace(b"\r\n", b"\n")
        out += b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"
        out += _FROM_QUOTED.sub(rb">\1", body)
        if not body.endswith(b"\n"):
            out += b"\n"
        out += b"\n"
    return bytes(out)
