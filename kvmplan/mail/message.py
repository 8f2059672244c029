"""One mail, read and decoded into plain text: the `Message` dataclass.

Real list mail has broken headers, wrong charsets and Outlook's base64 CRLF
bodies, so everything here degrades to a diagnostic instead of raising:
the compat32 policy (which never raises on bad headers) and our own header
decoding with fallbacks.
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.parser
import email.utils
import hashlib
import re
from dataclasses import dataclass
from email.policy import compat32

from kvmplan.diagnostics import Diagnostic


@dataclass(frozen=True)
class Attachment:
    """A text part that is not the body (a patch sent as an attachment)."""

    filename: str
    content_type: str
    text: str


@dataclass(frozen=True)
class Message:
    """One decoded mail.

    `message_id` has no angle brackets; a mail without one gets a stable
    synthetic id (`kvmplan-<hash>@local`). `body` is the text/plain body,
    decoded, with LF line endings. `origin` says where the mail was read
    (file and position), for diagnostics.
    """

    message_id: str
    subject: str
    author: str
    date: str
    in_reply_to: str | None
    references: tuple[str, ...]
    body: str
    attachments: tuple[Attachment, ...]
    origin: str
    diagnostics: tuple[Diagnostic, ...] = ()
    # addressees as sent ("Name <addr>" each), for replies
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()

    @property
    def parents(self) -> tuple[str, ...]:
        """Message-IDs this mail answers, nearest first."""
        out = [] if self.in_reply_to is None else [self.in_reply_to]
        seen = set(out)
        for ref in reversed(self.references):
            if ref not in seen:
                seen.add(ref)
                out.append(ref)
        return tuple(out)


_MSGID = re.compile(r"<([^<>\s]+)>")
# A real thread is a few dozen mails deep; more References only cost time.
MAX_REFERENCES = 100
_WS = re.compile(r"\s+")


def parse_message(raw: bytes, origin: str) -> Message:
    """Decode one raw RFC 5322 message; problems become diagnostics, never errors."""
    raw = raw.replace(b"\r\n", b"\n")
    problems: list[str] = []
    notes: list[str] = []
    try:
        msg = email.message_from_bytes(raw, policy=compat32)
        whole = True
    except (RecursionError, MemoryError, ValueError, LookupError, TypeError):
        # the stdlib parser recurses once per nested multipart: a hostile
        # nesting depth ends here. The headers still place the mail.
        msg = email.parser.BytesParser(policy=compat32).parsebytes(raw, headersonly=True)
        whole = False
        problems.append("MIME structure could not be read (nested too deep?): body ignored")

    ids = _msgids(_header(msg, "Message-ID"))
    if ids:
        message_id = ids[0]
    else:
        bare = _header(msg, "Message-ID").strip().strip("<>").strip()
        if bare and " " not in bare:
            message_id = bare
        else:
            message_id = "kvmplan-" + hashlib.sha256(raw).hexdigest()[:16] + "@local"
            # Normal for `git format-patch` output, so not a warning.
            notes.append("no Message-ID header; using a synthetic id")
    reply_ids = _msgids(_header(msg, "In-Reply-To"))
    in_reply_to = reply_ids[-1] if reply_ids else None
    references = tuple(_msgids(_header(msg, "References")))
    if len(references) > MAX_REFERENCES:
        # the root and the nearest ancestors are what threading needs
        problems.append(f"References holds {len(references)} Message-IDs; kept the first and "
                        f"the last {MAX_REFERENCES - 1}")
        references = references[:1] + references[-(MAX_REFERENCES - 1):]

    subject = _WS.sub(" ", _header(msg, "Subject")).strip()
    author = parse_address(_header(msg, "From"))
    date = _WS.sub(" ", _header(msg, "Date")).strip()

    body, attachments, body_problems = _body(msg) if whole else ("", [], [])
    body = printable(body)
    attachments = [Attachment(a.filename and printable(a.filename), a.content_type,
                              printable(a.text)) for a in attachments]
    problems.extend(body_problems)
    if msg.defects:
        kinds = sorted({type(d).__name__ for d in msg.defects})
        problems.append("malformed mail structure: " + ", ".join(kinds))
    # Each of these was repaired or guessed around: warnings, not errors.
    diagnostics = tuple(
        [Diagnostic("info", text, message_id) for text in notes]
        + [Diagnostic("warning", text, message_id) for text in problems]
    )
    return Message(
        message_id=message_id,
        subject=subject,
        author=author,
        date=date,
        in_reply_to=in_reply_to,
        references=references,
        body=body,
        attachments=tuple(attachments),
        origin=origin,
        diagnostics=diagnostics,
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
    )


def decode_header(value: str) -> str:
    """Decode RFC 2047 words and raw 8-bit bytes in a header value; unfold it."""
    value = _unsurrogate(value)
    try:
        parts = email.header.decode_header(value)
    except Exception:  # noqa: BLE001 - malformed encoded words: keep the raw text
        return _WS.sub(" ", value).strip()
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        out.append(_decode_bytes(chunk, charset)[0])
    # decode_header drops the space between an encoded word and plain text
    # only where RFC 2047 says so; join as is.
    return _WS.sub(" ", "".join(out)).strip()


# C0 and C1 controls, DEL, and the Unicode bidirectional overrides: nothing
# a mail may carry to a terminal, a header or a file name (escape sequences
# that retitle a window or clear the screen; text that reads reversed).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Text from a mail without control characters (tabs and newlines kept)."""
    return _CONTROLS.sub("", text)


def _header(msg: email.message.Message, name: str) -> str:
    return printable(_header_text(msg, name))


def _header_text(msg: email.message.Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # noqa: BLE001 - compat32 rarely raises, but never let it out
        return ""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        # compat32 wraps raw 8-bit header bytes as an "unknown-8bit" Header.
        try:
            chunks = email.header.decode_header(value)
        except Exception:  # noqa: BLE001
            return _WS.sub(" ", str(value)).strip()
        text = "".join(
            c if isinstance(c, str) else _decode_bytes(c, charset)[0] for c, charset in chunks
        )
        return decode_header(text) if "=?" in text else _WS.sub(" ", text).strip()
    return decode_header(str(value))


def _msgids(value: str) -> list[str]:
    return [printable(m) for m in _MSGID.findall(value) if printable(m)]


def _addresses(msg: email.message.Message, name: str) -> tuple[str, ...]:
    """Every address in all `name` headers, canonical, in order, once each."""
    values = [printable(decode_header(str(v))) for v in (msg.get_all(name) or [])]
    out: list[str] = []
    for display, addr in email.utils.getaddresses(values):
        if not addr or "@" not in addr:
            continue
        display = _WS.sub(" ", display).strip().strip('"').strip()
        text = f"{display} <{addr}>" if display else addr
        if all(addr.lower() not in o.lower() for o in out):
            out.append(text)
    return tuple(out)


def parse_address(value: str) -> str:
    """'Name <addr>' in one canonical form (or the raw value when it does not parse)."""
    name, addr = email.utils.parseaddr(value)
    if not addr:
        return value.strip()
    name = name.strip().strip('"').strip()
    return f"{name} <{addr}>" if name else addr


def _unsurrogate(value: str) -> str:
    """compat32 keeps raw 8-bit header bytes as surrogates: decode them as text."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    return _decode_bytes(raw, None)[0]


def _decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode with the declared charset, then UTF-8, then with replacement.

    Returns the text and a problem description when the text is not exact.
    """
    declared = (charset or "").strip().strip('"').lower() or None
    candidates: list[str] = []
    problem: str | None = None
    if declared is not None and declared not in ("us-ascii", "ascii", "unknown-8bit", "x-unknown"):
        try:
            # Also refuses codecs that are not text encodings ("base64", "rot13").
            "".encode(declared)
            candidates.append(declared)
        except (LookupError, ValueError):
            problem = f"unknown charset {declared!r}"
    # Undeclared or "us-ascii" text with 8-bit bytes is almost always UTF-8.
    candidates.append("utf-8")
    for codec in candidates:
        try:
            return data.decode(codec), problem
        except (UnicodeError, ValueError):
            # UnicodeError, not only UnicodeDecodeError: "idna" raises it.
            continue
    codec = candidates[0]
    try:
        text = data.decode(codec, errors="replace")
    except (UnicodeError, ValueError):
        codec = "utf-8"
        text = data.decode(codec, errors="replace")
    what = f"declared {declared!r}" if declared else "undeclared"
    return text, (problem or f"text is not valid in its {what} charset") + (
        f"; decoded as {codec} with replacement characters"
    )


def _body(msg: email.message.Message) -> tuple[str, list[Attachment], list[str]]:
    """The text/plain body, the other text parts, and what went wrong."""
    problems: list[str] = []
    body: str | None = None
    attachments: list[Attachment] = []
    saw_html = False
    try:
        parts = list(msg.walk())
    except Exception:  # noqa: BLE001 - a broken MIME tree is still a mail
        parts = [msg]
        problems.append("broken MIME structure; read as a single part")
    for part in parts:
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        filename = decode_header(str(part.get_filename() or "")) if _safe_filename(part) else ""
        is_attachment = disposition == "attachment" or bool(filename)
        if ctype == "text/html":
            saw_html = True
            continue
        textual = ctype.startswith("text/") or (
            filename.endswith((".patch", ".diff")) and ctype == "application/octet-stream"
        )
        if not textual:
            continue
        text, problem = _part_text(part)
        if problem:
            problems.append(problem)
        if body is None and ctype == "text/plain" and not is_attachment:
            body = text
        else:
            attachments.append(Attachment(filename, ctype, text))
    if body is None:
        if attachments and not msg.is_multipart():
            # A top-level text/x-patch or similar: that is the body.
            body = attachments.pop(0).text
        else:
            body = ""
            if saw_html and not attachments:
                problems.append("HTML-only mail: no text/plain part, body ignored")
    return body, attachments, problems


def _safe_filename(part: email.message.Message) -> bool:
    try:
        part.get_filename()
    except Exception:  # noqa: BLE001
        return False
    return True


def _part_text(part: email.message.Message) -> tuple[str, str | None]:
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    before = len(part.defects)
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - e.g. broken uuencode
        payload = None
    problem: str | None = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
        problem = f"could not decode the {cte or 'body'} transfer encoding; kept the raw text"
    elif len(part.defects) > before or (cte == "base64" and _bad_base64(part)):
        problem = "corrupt base64 body; decoded what could be"
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001 - a charset parameter that is not text
        charset = None
    text, charset_problem = _decode_bytes(payload, charset)
    if charset_problem:
        problem = f"{problem}; {charset_problem}" if problem else charset_problem
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, problem


_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=\s]")


def _bad_base64(part: email.message.Message) -> bool:
    raw = part.get_payload()
    if not isinstance(raw, str):
        return False
    data = raw.encode("ascii", "replace")
    if _B64_JUNK.search(data):
        return True
    stripped = re.sub(rb"\s+", b"", data)
    return len(stripped.rstrip(b"=")) % 4 == 1
