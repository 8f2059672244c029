"""The JSON form of a Series: the contract `kvmplan series --format json` keeps.

Plain dicts and lists in a fixed order, so that the same input always
gives byte-identical output. `SCHEMA` names the version of this layout.
"""

from __future__ import annotations

import json
from typing import Any

from kvmplan.diagnostics import Diagnostic
from kvmplan.diff import FilePatch, Hunk
from kvmplan.mail.series import Patch, Reply, Series
from kvmplan.mail.trailers import Trailer

SCHEMA = "kvmplan.series/1"


def series_to_dict(series: Series) -> dict[str, Any]:
    """The whole series as JSON-ready data (see the README for the schema)."""
    return {
        "schema": SCHEMA,
        "series": {
            "title": series.title,
            "version": series.version,
            "expected": series.expected,
            "prefixes": list(series.prefixes),
            "author": series.author,
            "base_commit": series.base_commit,
            "change_id": series.change_id,
            "cover": None
            if series.cover is None
            else {
                "message_id": series.cover.message_id,
                "subject": series.cover.subject,
                "author": series.cover.author,
            },
            "replies_only": series.replies_only,
            "missing": list(series.missing),
            "duplicates": [
                {"index": d.index, "message_ids": list(d.message_ids)} for d in series.duplicates
            ],
        },
        "patches": [_patch(p) for p in series.patches],
        "replies": [_reply(r) for r in series.replies],
        "diagnostics": [_diagnostic(d) for d in series.diagnostics],
    }


def dumps(series: Series) -> str:
    """The JSON text: indented, UTF-8 kept as is, newline-terminated."""
    return json.dumps(series_to_dict(series), indent=2, ensure_ascii=False) + "\n"


def _patch(p: Patch) -> dict[str, Any]:
    return {
        "index": p.index,
        "expected": p.expected,
        "subject": p.subject,
        "title": p.title,
        "message_id": p.message_id,
        "in_reply_to": p.in_reply_to,
        "author": p.author,
        "date": p.date,
        "added": p.added,
        "removed": p.removed,
        "files": [_file(f) for f in p.files],
        "trailers": [_trailer(t) for t in p.trailers],
        "reply_trailers": [_trailer(t, with_source=True) for t in p.reply_trailers],
        "commit_message": p.commit_message,
    }


def _file(f: FilePatch) -> dict[str, Any]:
    return {
        "path": f.path,
        "old_path": f.old_path,
        "new_path": f.new_path,
        "status": f.status,
        "binary": f.is_binary,
        "old_mode": f.old_mode,
        "new_mode": f.new_mode,
        "path_safe": f.path_is_safe,
        "added": f.added,
        "removed": f.removed,
        "hunks": [_hunk(h) for h in f.hunks],
    }


def _hunk(h: Hunk) -> dict[str, Any]:
    return {
        "old_start": h.old_start,
        "old_len": h.old_len,
        "new_start": h.new_start,
        "new_len": h.new_len,
        "section": h.section,
        "added": h.added,
        "removed": h.removed,
    }


def _trailer(t: Trailer, with_source: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"name": t.name, "value": t.value}
    if with_source:
        out["message_id"] = t.message_id
    return out


def _reply(r: Reply) -> dict[str, Any]:
    return {
        "message_id": r.message_id,
        "in_reply_to": r.in_reply_to,
        "subject": r.subject,
        "author": r.author,
        "date": r.date,
        "answers": r.answers,
        "answers_message_id": r.answers_message_id,
        "has_diff": r.has_diff,
        "trailers": [_trailer(t) for t in r.trailers],
    }


def _diagnostic(d: Diagnostic) -> dict[str, Any]:
    return {"message_id": d.message_id, "severity": d.severity, "text": d.text}
