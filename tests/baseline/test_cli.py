"""`kvmplan baseline build` and `kvmplan baseline list`."""

from __future__ import annotations

from pathlib import Path

import typer
from baseline_helpers import tiny_baseline
from typer.testing import CliRunner

from kvmplan.cli import baseline as baseline_cli


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """kvmplan"""

    baseline_cli.register(app)
    return app


def test_build_writes_the_extraction(tmp_path: Path) -> None:
    want = tiny_baseline(tmp_path / "tree").dumps()
    out = tmp_path / "out" / "tiny.json.gz"
    result = CliRunner().invoke(_app(), ["baseline", "build", "--tree", str(tmp_path / "tree"),
                                         "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == want
    assert "linux-6.1 (release 6.1.7" in result.output


def test_build_refuses_what_is_not_a_tree(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["baseline", "build", "--tree", str(tmp_path),
                                         "--output", str(tmp_path / "x.json.gz")])
    assert result.exit_code == 2
    assert not (tmp_path / "x.json.gz").exists()


def test_list_names_the_bundled_baselines() -> None:
    result = CliRunner().invoke(_app(), ["baseline", "list"])
    assert result.exit_code == 0
    assert [line.split("\t")[0] for line in result.output.splitlines()] == ["linux-6.12",
                                                                           "linux-6.1"]
