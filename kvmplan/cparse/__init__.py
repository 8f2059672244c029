"""C front-end: kernel C (masked for tree-sitter) → functions as event streams."""

from kvmplan.cparse.cache import parse_cached
from kvmplan.cparse.config import KernelConfig, default_config, load_config
from kvmplan.cparse.events import (
    Binding, Event, FileUnit, Function, GlobalVar, Param, ParseError, Table, TopCall,
)
from kvmplan.cparse.unit import parse_file

__all__ = [
    "Binding", "Event", "FileUnit", "Function", "GlobalVar", "KernelConfig", "Param",
    "ParseError", "Table", "TopCall", "default_config", "load_config", "parse_cached",
    "parse_file",
]
