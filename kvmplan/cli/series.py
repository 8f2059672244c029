"""`kvmplan series`: assemble a patch series from mail and print it."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from kvmplan.cli.common import EXIT_OK, fail
from kvmplan.mail import InputError, Series, assemble, dumps, load_messages
from kvmplan.mail.series import format_ranges


class Format(str, Enum):
    text = "text"
    json = "json"


# Above this many missing patches the text output gives ranges only.
_LIST_MISSING = 20


def register(app: typer.Typer) -> None:
    @app.command("series")
    def series(
        path: Annotated[
            str,
            typer.Argument(help="mbox, maildir, .patch/.eml, format-patch directory, or - for stdin"),
        ],
        format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
        version: Annotated[
            int | None,
            typer.Option("--series-version", min=1,
                         help="Series version to pick (default: the newest)."),
        ] = None,
        pick: Annotated[
            str | None,
            typer.Option("--series", metavar="MESSAGE-ID",
                         help="The series version holding this message (default: the "
                         "series with the most patches)."),
        ] = None,
    ) -> None:
        """Assemble a patch series from mail and print it.

        Exit 0 when a series (or the replies to one) was assembled, even with
        diagnostics; 2 when the input holds nothing usable.
        """
        try:
            messages, diagnostics = load_messages(path)
            result = assemble(messages, version=version, diagnostics=diagnostics,
                              message_id=pick)
        except InputError as exc:
            fail(str(exc))
        out = dumps(result) if format is Format.json else render_text(result)
        sys.stdout.write(out)
        raise typer.Exit(EXIT_OK)


def render_text(series: Series) -> str:
    """A human summary: title, patches in order, missing ones, replies, diagnostics."""
    lines: list[str] = []
    width = len(str(series.expected or len(series.patches) or 1))
    prefix = " ".join(p for p in series.prefixes if p.upper() != "PATCH")
    head = f"{series.title}"
    lines.append(head)
    facts = [f"v{series.version}"]
    if prefix:
        facts.append(prefix)
    if series.replies_only:
        facts.append(f"replies only, no patches (series of {series.expected or '?'})")
    else:
        facts.append(f"{len(series.patches)} of {series.expected or '?'} patches")
        facts.append("cover letter" if series.cover else "no cover letter")
    if series.base_commit:
        facts.append(f"base-commit {series.base_commit[:12]}")
    lines.append("  " + ", ".join(facts))
    if series.author:
        lines.append(f"  author: {series.author}")
    if series.change_id:
        lines.append(f"  change-id: {series.change_id}")
    lines.append("")

    if series.cover is not None:
        lines.append(f"  {0:0{width}d}/{series.expected} {series.cover.title}  (cover)")
    for p in series.patches:
        stat = f"{len(p.files)} file{'s' if len(p.files) != 1 else ''}, +{p.added} -{p.removed}"
        lines.append(f"  {p.index:0{width}d}/{p.expected} {p.title}  [{stat}]")
        if p.author != series.author:
            lines.append(f"  {'':{2 * width + 1}} author: {p.author}")
        for t in p.reply_trailers:
            lines.append(f"  {'':{2 * width + 1}} + {t.name}: {t.value}  (reply)")
    if series.cover is not None or series.patches:
        lines.append("")

    if series.missing:
        count = len(series.missing)
        listed = format_ranges(series.missing) if count > _LIST_MISSING else ", ".join(map(str, series.missing))
        lines.append(f"missing: {count} of {series.expected} ({listed})")
    if series.duplicates:
        for dup in series.duplicates:
            lines.append(f"duplicate: {dup.index} sent {len(dup.message_ids)} times: " + ", ".join(dup.message_ids))
    if series.replies:
        lines.append(f"replies: {len(series.replies)}")
        for r in series.replies:
            target = "?" if r.answers is None else f"{r.answers:0{width}d}/{series.expected}"
            extra = " (has a diff)" if r.has_diff else ""
            lines.append(f"  -> {target} {r.author}  <{r.message_id}>{extra}")
            for t in r.trailers:
                lines.append(f"       {t.name}: {t.value}")
    if series.diagnostics:
        lines.append(f"diagnostics: {len(series.diagnostics)}")
        for d in series.diagnostics:
            where = f" <{d.message_id}>" if d.message_id else ""
            lines.append(f"  {d.severity}:{where} {d.text}")
    return "\n".join(lines).rstrip("\n") + "\n"

