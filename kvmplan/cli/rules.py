"""`kvmplan rules [CODE]`: list the rules, or explain one (like `ruff rule`)."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import asdict

import typer

from kvmplan.cli.common import fail
from kvmplan.model.rules import RULES, Rule, check_locations, get
from kvmplan.model.rules.base import DOC_SECTIONS, ONE_LINE

FORMATS = ("text", "json")
WIDTH = 76


def _fields(rule: Rule) -> dict[str, object]:
    """Every field of a rule for JSON, its messages as an object."""
    return {**asdict(rule), "messages": dict(rule.messages), "check_at": check_locations(rule.code)}


def render_list(rules: Iterable[Rule], fmt: str) -> str:
    """One line per rule (text) or a JSON array of every field."""
    items = list(rules)
    if fmt == "json":
        return json.dumps([_fields(r) for r in items], indent=2) + "\n"
    width = max(len(r.name) for r in items)
    return "".join(
        f"{r.code}  {r.severity:<7}  {r.name:<{width}}  {r.summary}\n" for r in items
    )


def render_rule(rule: Rule, fmt: str) -> str:
    """The whole document of one rule (text) or a JSON object of its fields."""
    where = check_locations(rule.code)
    if fmt == "json":
        return json.dumps(_fields(rule), indent=2) + "\n"
    out = [f"# {rule.name} ({rule.code})", "", f"Severity: {rule.severity}", "",
           textwrap.fill(rule.summary, WIDTH)]
    for title, field in DOC_SECTIONS:
        text = str(getattr(rule, field))
        out += ["", f"## {title}", "", textwrap.fill(text, WIDTH) if field in ONE_LINE else text]
    if rule.messages:
        out += ["", "## What it reports", ""]
        out += [textwrap.fill(f"- {text}", WIDTH, subsequent_indent="  ") for _, text in rule.messages]
    out += ["", "## Where the check is", ""] + [f"  {line}" for line in where or ["none: the rule is not checked yet"]]
    return "\n".join(out) + "\n"


def register(app: typer.Typer) -> None:
    @app.command("rules")
    def rules(
        code: str | None = typer.Argument(
            None, help="rule code (KVM004, kvm004) or name (enable-failure-handled)"
        ),
        fmt: str = typer.Option("text", "--format", help="text or json"),
    ) -> None:
        """List the rules kvmplan reports, or explain one."""
        if fmt not in FORMATS:
            fail(f"unknown --format {fmt!r} (choose text or json)")
        if code is None:
            sys.stdout.write(render_list(RULES.values(), fmt))
            return
        rule = get(code)
        if rule is None:
            fail(f"unknown rule {code!r} (see 'kvmplan rules' for the list)")
        sys.stdout.write(render_rule(rule, fmt))
