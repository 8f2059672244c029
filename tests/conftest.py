"""Shared fixtures: extracted kernel trees (see scripts/fetch-kernels.sh)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

KERNEL_VERSIONS = ("6.1", "6.12")


def trees_dir() -> Path:
    """Parent directory of the extracted trees (env KVMPLAN_TREES overrides)."""
    return Path(os.environ.get("KVMPLAN_TREES", Path.home() / ".cache/kvmplan/trees"))


def kernel_tree_path(version: str) -> Path | None:
    """Path of the extracted linux-<version> tree, or None when absent."""
    root = trees_dir() / f"linux-{version}"
    return root if (root / "virt/kvm").is_dir() else None


@pytest.fixture(scope="session")
def kernel_tree():
    """kernel_tree(version) -> Path of linux-<version>, or skip the test when absent."""

    def get(version: str) -> Path:
        root = kernel_tree_path(version)
        if root is None:
            pytest.skip(f"linux-{version} tree not extracted: run scripts/fetch-kernels.sh")
        return root

    return get
