"""`kvmplan rules [CODE]`: the list, one rule's document, JSON, and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kvmplan.cli import app
from kvmplan.model.rules import RULES

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ["## What it checks", "## Why it matters", "## Example", "## How to fix",
            "## How kvmplan checks it"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["rules", *args])
    return result.exit_code, result.stdout, result.stderr


def run_process(*args: str) -> subprocess.CompletedProcess[str]:
    """The real console path (kvmplan.cli.main), as `python -m kvmplan`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "kvmplan", "rules", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)


def test_list_one_line_per_rule_in_code_order() -> None:
    code, out, _ = run()
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list(RULES)
    assert lines[0].startswith("KVM001  error    all-online-enabled  ")
    assert lines[1].startswith("KVM002  warning  no-enable-without-user  ")
    for line, rule in zip(lines, RULES.values(), strict=True):
        assert line.split(maxsplit=3) == [rule.code, rule.severity, rule.name, rule.summary]
    # the summary column is aligned
    assert len({line.index(rule.summary) for line, rule in zip(lines, RULES.values(), strict=True)}) == 1


def test_one_rule_document() -> None:
    code, out, _ = run("KVM004")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "# enable-failure-handled (KVM004)"
    assert "Severity: error" in lines[:4]
    positions = [lines.index(title) for title in SECTIONS]
    assert positions == sorted(positions), "sections in the documented order"
    assert "STARTING" in out and "on_each_cpu()" in out


@pytest.mark.parametrize("key", ["kvm004", "enable-failure-handled"])
def test_code_in_any_case_or_name(key: str) -> None:
    assert run(key) == run("KVM004")


def test_every_rule_has_a_document() -> None:
    for rule in RULES.values():
        code, out, _ = run(rule.code)
        assert code == 0
        assert out.startswith(f"# {rule.name} ({rule.code})\n")
        assert f"Severity: {rule.severity}\n" in out


def test_json_list_and_one() -> None:
    code, out, _ = run("--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [d["code"] for d in data] == list(RULES)
    assert set(data[0]) == {"code", "name", "severity", "summary", "what", "why", "example",
                            "fix", "checked", "blind", "messages", "check_at"}
    code, out, _ = run("lock-order", "--format", "json")
    assert code == 0
    one = json.loads(out)
    assert one["code"] == "KVM007" and one["name"] == "lock-order" and one["severity"] == "error"
    assert one == data[6]


def test_output_is_deterministic() -> None:
    assert run() == run()
    assert run("KVM011", "--format", "json") == run("KVM011", "--format", "json")


def test_unknown_rule_is_a_usage_error() -> None:
    proc = run_process("KVM099")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("kvmplan: error: unknown rule 'KVM099'")
    assert len(proc.stderr.splitlines()) == 1


def test_unknown_format_is_a_usage_error() -> None:
    code, out, err = run("--format", "yaml")
    assert code == 2
    assert out == ""
    assert "unknown --format 'yaml'" in err


def test_console_path_lists_rules() -> None:
    proc = run_process()
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0].startswith("KVM001  error    all-online-enabled")
    assert proc.stderr == ""


def test_a_rule_says_where_its_check_is() -> None:
    code, out, _ = run("KVM009")
    assert code == 0
    where = out.split("## Where the check is", 1)[1]
    assert "kvmplan/model/rules/kvm009.py:" in where and "(explorer, hook enable)" in where
    assert "(Promela, hook enable)" in where
    code, out, _ = run("KVM015")
    where = out.split("## Where the check is", 1)[1]
    assert "kvmplan/model/rules/kvm015.py:" in where and "(explorer, hook field_write)" in where
