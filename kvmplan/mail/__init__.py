"""Mail → series: read mail from any source, decode it, assemble the series.

    messages, diags = load_messages(path)      # mbox, maildir, file, dir, "-"
    series = assemble(messages, version=None, diagnostics=diags)
"""

from kvmplan.diagnostics import Diagnostic, Severity
from kvmplan.mail.errors import InputError
from kvmplan.mail.message import (
    Attachment,
    Message,
    decode_header,
    parse_address,
    parse_message,
)
from kvmplan.mail.schema import SCHEMA, dumps, series_to_dict
from kvmplan.mail.series import Cover, Duplicate, Patch, Reply, Series, assemble
from kvmplan.mail.sources import RawMessage, load_messages, read_raw, split_mbox
from kvmplan.mail.subject import Subject, parse_subject
from kvmplan.mail.trailers import Trailer, parse_commit_trailers, parse_reply_trailers

__all__ = [
    "SCHEMA",
    "Attachment",
    "Cover",
    "Diagnostic",
    "Duplicate",
    "InputError",
    "Message",
    "Patch",
    "RawMessage",
    "Reply",
    "Series",
    "Severity",
    "Subject",
    "Trailer",
    "assemble",
    "decode_header",
    "dumps",
    "load_messages",
    "parse_address",
    "parse_commit_trailers",
    "parse_message",
    "parse_reply_trailers",
    "parse_subject",
    "read_raw",
    "series_to_dict",
    "split_mbox",
]
