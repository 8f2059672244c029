"""The wheel works on its own: built from the checkout, installed into a
fresh venv, run from a directory outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "fixtures" / "patches" / "example-online-series.mbox"

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    build = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                  "-w", str(dist), str(ROOT)], work, dict(os.environ))
    assert build.returncode == 0, build.stderr
    wheel = next(dist.glob("kvmplan-*.whl"))
    env_dir = work / "venv"
    # the venv sees the dependencies already installed, not the checkout
    made = _run([sys.executable, "-m", "venv", "--system-site-packages", str(env_dir)], work,
                dict(os.environ))
    assert made.returncode == 0, made.stderr
    py = env_dir / "bin" / "python"
    inst = _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                work, dict(os.environ))
    assert inst.returncode == 0, inst.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{env_dir / 'bin'}:{env['PATH']}"
    env["HOME"] = str(work / "home")          # no cache from earlier runs
    return env_dir, env


def test_the_installed_package_is_the_wheel(venv, tmp_path) -> None:
    env_dir, env = venv
    where = _run([str(env_dir / "bin" / "python"), "-c",
                  "import kvmplan, kvmplan.resources as r; print(kvmplan.__file__); "
                  "print(r.grammar_path('config-x86_64.txt')); print(r.templates_dir())"],
                 tmp_path, env)
    assert where.returncode == 0, where.stderr
    paths = where.stdout.split()
    assert all(p.startswith(str(env_dir)) for p in paths), paths
    assert all(Path(p).exists() for p in paths)


def test_every_subcommand_runs_from_outside_the_checkout(venv, tmp_path, kernel_tree) -> None:
    env_dir, env = venv
    kp = str(env_dir / "bin" / "kvmplan")
    tree = str(kernel_tree("6.12"))
    version = _run([kp, "--version"], tmp_path, env)
    assert version.returncode == 0 and version.stdout.startswith("kvmplan "), version.stderr

    review = _run([kp, "analyze", str(EXAMPLE), "-q"], tmp_path, env)
    assert review.returncode == 0, review.stderr
    assert review.stdout.startswith("## kvmplan review: KVM: Enable virtualization")
    assert "| Lines | as of Linux 6.1." in review.stdout

    graph = _run([kp, "graph", "--tree", tree], tmp_path, env)
    assert graph.returncode == 0 and "kvm_init" in graph.stdout, graph.stderr
    plan = _run([kp, "plan", "--tree", tree, "--format", "text"], tmp_path, env)
    assert plan.returncode == 0 and plan.stdout.startswith("kvmplan plan: linux-6.12"), plan.stderr
    check = _run([kp, "model", "check", "--tree", tree, "--format", "json"], tmp_path, env)
    assert check.returncode in (0, 1) and '"findings"' in check.stdout, check.stderr

    outbox = tmp_path / "outbox"
    bot = _run([kp, "bot", "--source", str(EXAMPLE), "--outbox", str(outbox), "--once",
                "--log", str(tmp_path / "bot.log")], tmp_path, env)
    assert bot.returncode == 0, bot.stderr
    assert list((outbox / "reviews").glob("*.md")), sorted(p.name for p in outbox.rglob("*"))
