"""Where C text comes from: a kernel tree on disk (never written), optionally
overlaid with in-memory file contents (a series applied in memory)."""

from kvmplan.source.tree import SourceTree, UnsafePath, kernel_release, safe_relpath

__all__ = ["SourceTree", "UnsafePath", "kernel_release", "safe_relpath"]
