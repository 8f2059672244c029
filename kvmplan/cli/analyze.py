"""`kvmplan analyze`: judge a series against its base and write the review."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from kvmplan.cli.common import (EXIT_FINDINGS, EXIT_INCONCLUSIVE, EXIT_NIPA_WARNING, EXIT_OK,
                                fail)
from kvmplan.cli.progress import PhaseProgress

if TYPE_CHECKING:
    from kvmplan.analyze import Review

FAIL_ON = ("error", "warning", "note", "never")
_RANK = {"error": 3, "warning": 2, "note": 1}


def register(app: typer.Typer) -> None:
    register_check_mail(app)

    @app.command("analyze")
    def analyze_cmd(
        path: str = typer.Argument(..., help="the series: mbox, maildir, .patch, directory, or -"),
        tree: Optional[str] = typer.Option(None, "--tree", help="kernel tree to apply the "
                                           "series to (read only); without it, a bundled baseline"),
        baseline: Optional[str] = typer.Option(None, "--baseline",
                                               help="bundled baseline to use (e.g. linux-6.1)"),
        fmt: str = typer.Option("markdown", "--format", "-f",
                                help="markdown, email, text, json or sarif"),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="file (directory "
                                              "for --format email); default stdout"),
        config: Optional[Path] = typer.Option(None, "--config", help="kvmplan.toml "
                                              "(default: ./kvmplan.toml when present)"),
        fail_on: str = typer.Option("error", "--fail-on", help="exit 1 when a finding the "
                                    "series introduces is at least this severe (error, "
                                    "warning, note, never)"),
        version: Optional[int] = typer.Option(None, "--series-version", min=1,
                                              help="series version to pick (default: newest)"),
        pick: Optional[str] = typer.Option(None, "--series", metavar="MESSAGE-ID",
                                           help="the series version holding this message "
                                           "(default: the series with most patches)"),
        cpus: int = typer.Option(2, "--cpus", help="CPUs in the model"),
        failures: int = typer.Option(0, "--failures", help="injected failures of fallible calls"),
        vendor: Optional[str] = typer.Option(None, "--vendor", help="vmx or svm (default: "
                                             "svm when the series touches only SVM code, "
                                             "else vmx)"),
        jobs: int = typer.Option(0, "--jobs", "-j", help="parallel model runs (0: one per CPU)"),
        timing: bool = typer.Option(False, "--timing", help="include seconds (output then varies)"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress or diagnostics on stderr"),
        diagrams: bool = typer.Option(False, "--diagrams", help="add a mermaid sequence "
                                      "diagram under each trace (markdown)"),
        nipa: bool = typer.Option(False, "--nipa", help="NIPA's exit codes: 250 when the "
                                  "series introduces only findings below --fail-on, uncertain "
                                  "ones, or hunks that did not apply"),
        no_plan: bool = typer.Option(False, "--no-plan", help="leave out the refactor-plan "
                                     "section (markdown and JSON with --tree)"),
    ) -> None:
        """Apply a series patch by patch, run the lifecycle model after each,
        and report the findings it introduces, fixes or leaves.

        Exit codes: 0 nothing at or above --fail-on introduced; 1 something
        is; 2 unusable input or usage; 3 inconclusive (the series was not
        judged; the review says why); with --nipa, 250 instead of 3 and when
        only warnings remain (findings below --fail-on, uncertain ones, hunks
        that did not apply). --fail-on never: always 0. Progress goes to
        stderr: a bar on a terminal, one line per phase otherwise."""
        from kvmplan.analyze import ConfigError, analyze, load_config, open_base
        from kvmplan.analyze.base import series_vendor
        from kvmplan.mail import InputError, assemble, load_messages
        from kvmplan.model import Bounds
        from kvmplan.report import FORMATS, RENDERERS, render_emails

        if fmt not in FORMATS:
            fail(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
        if fail_on not in FAIL_ON:
            fail(f"--fail-on {fail_on}: expected one of {', '.join(FAIL_ON)}")
        if cpus < 1 or cpus > 4:
            fail(f"--cpus {cpus}: the model runs 1 to 4 CPUs")
        if fmt == "email" and output is None:
            fail("--format email needs --output DIR (one .eml file per reply)")
        try:
            cfg = load_config(config)
        except ConfigError as exc:
            fail(str(exc))
        try:
            messages, diagnostics = load_messages(path)
            series = assemble(messages, version=version, diagnostics=diagnostics,
                              message_id=pick)
        except InputError as exc:
            fail(str(exc))
        if series.replies_only and not quiet:
            sys.stderr.write(f"kvmplan: {path}: replies only, no patches: nothing to analyze\n")
        try:
            base = open_base(tree, series, baseline)
        except ValueError as exc:
            fail(str(exc))

        if vendor is not None and vendor not in ("vmx", "svm"):
            fail(f"--vendor {vendor}: expected vmx or svm")
        why = "--vendor"
        if vendor is None:
            vendor, why = series_vendor(series)
        progress = PhaseProgress(quiet=quiet)
        try:
            review = analyze(series, base, bounds=Bounds(cpus=cpus, failures=failures), config=cfg,
                             vendor=vendor, jobs=jobs or min(os.cpu_count() or 1, 4),
                             progress=progress, vendor_reason=why)
            progress("render", 0, 1)
            plan = None
            if tree is not None and fmt in ("markdown", "json") and not no_plan:
                plan = _plan(tree, series, vendor)
            if fmt == "email":
                mails = render_emails(review)
            else:
                text = RENDERERS[fmt](review, timing, plan, diagrams)
            progress("render", 1, 1)
        finally:
            progress.close()
        if not quiet:
            for d in review.diagnostics:
                if d.severity != "info":
                    where = f" <{d.message_id}>" if d.message_id else ""
                    sys.stderr.write(f"kvmplan: {d.severity}: {d.text}{where}\n")
        if fmt == "email":
            assert output is not None
            _write_mails(output, mails)
        else:
            if output is None:
                sys.stdout.write(text)
            else:
                try:
                    output.write_text(text, encoding="utf-8")
                except OSError as exc:
                    fail(f"{output}: {exc.strerror or exc}")
        raise typer.Exit(exit_code(review, fail_on, nipa))


def _plan(tree: str, series: object, vendor: str) -> dict | None:
    """Where the tree plus the series stands on the refactor plan (steps
    only; `kvmplan plan` validates the remaining stages)."""
    from kvmplan.plan import build_plan, to_dict
    from kvmplan.source import SourceTree

    return to_dict(build_plan(SourceTree(Path(tree)), series=series,  # type: ignore[arg-type]
                              vendor=vendor, stages=False))


def exit_code(review: Review, fail_on: str, nipa: bool = False) -> int:
    """0; 1 something introduced at or above `fail_on`; 3 an inconclusive
    verdict; with `nipa`, NIPA's 250 for a warning (an inconclusive verdict
    too). `--fail-on never` always gives 0."""
    if fail_on == "never":
        return EXIT_OK
    floor = _RANK[fail_on]
    new = [t for t in review.findings if t.status in ("introduced", "transient")]
    if any(not t.accepted and not t.uncertain and _RANK.get(t.severity, 0) >= floor
           for t in new):
        return EXIT_FINDINGS
    if review.verdict.kind == "inconclusive":
        return EXIT_NIPA_WARNING if nipa else EXIT_INCONCLUSIVE
    if nipa and (any(not t.accepted for t in new) or review.hunks("failed")):
        return EXIT_NIPA_WARNING
    return EXIT_OK


def _write_mails(out: Path, mails: list[tuple[str, str]]) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in mails:
            (out / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{out}: {exc.strerror or exc}")
    sys.stderr.write(f"kvmplan: {len(mails)} reply mail(s) written to {out} (nothing sent)\n")


def register_check_mail(app: typer.Typer) -> None:
    @app.command("check-mail")
    def check_mail(
        tree: Optional[str] = typer.Option(None, "--tree", help="kernel tree (read only); "
                                           "without it, a bundled baseline"),
        baseline: Optional[str] = typer.Option(None, "--baseline", help="bundled baseline to use"),
        config: Optional[Path] = typer.Option(None, "--config", help="kvmplan.toml"),
        url: str = typer.Option("", "--url", help="link to put in each result (e.g. the docs)"),
    ) -> None:
        """b4 external checker: one mail on stdin, a JSON list of
        {tool, status: pass|warn|fail, summary, url, details} on stdout."""
        import json

        from kvmplan.analyze import ConfigError, analyze, load_config, open_base
        from kvmplan.mail import InputError, assemble, load_messages
        from kvmplan.model import Bounds
        from kvmplan.report import render_text
        from kvmplan.report.view import check_state, review_dict

        def emit(status: str, summary: str, details: str) -> None:
            sys.stdout.write(json.dumps([{"tool": "kvmplan", "status": status, "summary": summary,
                                          "url": url, "details": details}], indent=2) + "\n")

        try:
            cfg = load_config(config)
            messages, diagnostics = load_messages("-")
            series = assemble(messages, diagnostics=diagnostics)
        except (ConfigError, InputError) as exc:
            emit("warn", "kvmplan could not read the input", str(exc))
            raise typer.Exit(EXIT_OK)
        if not series.patches:
            emit("pass", "no patch in this mail", "")
            raise typer.Exit(EXIT_OK)
        try:
            base = open_base(tree, series, baseline)
        except ValueError as exc:
            emit("warn", "kvmplan has no base to apply the patch to", str(exc))
            raise typer.Exit(EXIT_OK)
        review = analyze(series, base, bounds=Bounds(), config=cfg, jobs=1)
        data = review_dict(review)
        new = [f for f in data["findings"] if f["status"] in ("introduced", "transient")]
        status = {"success": "pass", "warning": "warn", "fail": "fail"}[
            check_state(new, review.hunks("failed"))]
        if data["verdict"] == "inconclusive" and status == "pass":
            status = "warn"
        c = data["counts"]
        parts = ([data["verdict_text"]] if data["verdict"] == "inconclusive" else []) + [
            f"{c['introduced'] + c['transient']} introduced", f"{c['fixed']} fixed"]
        parts += [f"{c[k]} {k}" for k in ("uncertain", "accepted") if c[k]]
        if review.hunks("failed"):
            parts.append(f"{review.hunks('failed')} hunk(s) did not apply to {base.name}")
        emit(status, "lifecycle model: " + ", ".join(parts), render_text(review))
        raise typer.Exit(EXIT_OK)
