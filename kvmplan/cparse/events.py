"""The front-end's output: functions as ordered event streams.

A function body is compiled to a flat list of events. Control flow is
explicit: a BRANCH jumps to `target` when its condition is false, a JUMP
always does; LOOP/LOOP_END bracket loop bodies. Call results land in named
slots (a local such as `r`, or a temporary `$N`), so a reader (the model)
can tell whether a fallible call's failure is checked, returned or dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

# Event kinds (the vocabulary the model gives meaning to).
CALL = "call"              # name=callee, args, slot=result slot ('' if dropped)
ICALL = "icall"            # indirect call: name='struct.field', mode=static_call|x86_call|ptr
LOCK = "lock"              # name=lock, mode=mutex|raw_spin|spin|read|..., scope=call|guard|scoped
UNLOCK = "unlock"
BRANCH = "branch"          # cond, target: taken when cond is false
JUMP = "jump"              # target (goto, break, continue, end of a then-block)
LABEL = "label"            # name
RETURN = "return"          # value (an atom: slot, constant, or expression text)
LOOP = "loop"              # name=iterator, mode=list|cpus|vcpus|loop|for|while|do, args, target=exit
LOOP_END = "loop_end"      # target=the LOOP event
CPUHP_SETUP = "cpuhp_setup"    # mode=variant, args=(state, name, startup, teardown)
CPUHP_REMOVE = "cpuhp_remove"  # mode=variant, args=(state,)
CROSS_CALL = "cross_call"  # on_each_cpu & co: mode=each|single|..., name=function run
REGISTER = "register"      # mode=syscore|reboot|emergency|misc|pm|..., name=object
UNREGISTER = "unregister"
ASSERT = "assert"          # lockdep assertions: mode=held|not_held|irqs_off, name=lock
LIST_ADD = "list_add"      # name=list head, args=(head, element)
LIST_DEL = "list_del"      # name=list member
PERCPU_READ = "percpu_read"    # name=per-CPU variable or cpumask; slot=result
PERCPU_WRITE = "percpu_write"  # name, value
COUNT = "count"            # name=global counter, mode=inc|dec|set, slot=value seen;
                           # scope=vm for a field of the VM (`kvm->created_vcpus++`)
ASSIGN = "assign"          # name=destination, value=atom ("?": a value the model
                           # doesn't compute, e.g. `x |= y`), scope=local for a local,
                           # vm for a field of the VM, named `kvm->path` (objects.txt)
ASM = "asm"                # name=first mnemonic; targets of `asm goto` follow as BRANCHes
KINDS = frozenset({CALL, ICALL, LOCK, UNLOCK, BRANCH, JUMP, LABEL, RETURN, LOOP, LOOP_END,
                   CPUHP_SETUP, CPUHP_REMOVE, CROSS_CALL, REGISTER, UNREGISTER, ASSERT, LIST_ADD,
                   LIST_DEL, PERCPU_READ, PERCPU_WRITE, COUNT, ASSIGN, ASM})

# A condition is a small expression tree of tuples:
#   ("slot", name)              a local or temporary holding a value
#   ("global", name)            a file-scope variable, e.g. kvm_usage_count, or a
#                               field of the VM, e.g. kvm->arch.max_vcpu_ids
#   ("const", text)             a literal or enumerator
#   ("not", c) ("and", a, b) ("or", a, b) ("cmp", op, a, b)
#   ("fault", mnemonic)         an `asm goto` fault edge
#   ("case", text)              a switch case test
#   ("unknown", text)           anything else
Cond = tuple[Union[str, "Cond"], ...]


@dataclass(frozen=True)
class Event:
    kind: str
    line: int
    name: str = ""
    args: tuple[str, ...] = ()
    slot: str = ""
    cond: Cond | None = None
    target: int = -1
    mode: str = ""
    scope: str = ""
    value: str = ""
    locks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Param:
    name: str
    type: str


@dataclass(frozen=True)
class Function:
    name: str
    file: str
    line: int
    end_line: int
    static: bool
    weak: bool
    init: bool
    exit: bool
    inline: bool
    returns: str
    params: tuple[Param, ...]
    events: tuple[Event, ...]
    # local name -> struct type, for resolving `ops->field()` calls
    local_types: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Binding:
    """One designated initializer in a file-scope table: `.field = value`."""

    field: str
    value: str
    line: int


@dataclass(frozen=True)
class Table:
    """A file-scope struct initializer, e.g. `struct kvm_x86_ops vt_x86_ops = {...}`."""

    name: str
    struct: str
    file: str
    line: int
    bindings: tuple[Binding, ...]


@dataclass(frozen=True)
class GlobalVar:
    name: str
    type: str
    file: str
    line: int
    static: bool
    per_cpu: bool = False
    init: str = ""          # a literal initializer (true, 0, -1...), else ""
    # a definition of a plain scalar (bool, int, u32...: no pointer, array,
    # struct, extern) whose value at load `init` gives, C's zero when the
    # declaration has no initializer
    scalar: bool = False


@dataclass(frozen=True)
class TopCall:
    """A file-scope macro statement such as `module_init(vmx_init);`."""

    name: str
    args: tuple[str, ...]
    file: str
    line: int


@dataclass(frozen=True)
class ParseError:
    file: str
    line: int
    function: str
    text: str


@dataclass(frozen=True)
class FileUnit:
    """Everything the front-end extracted from one C file."""

    path: str
    functions: tuple[Function, ...]
    tables: tuple[Table, ...]
    globals: tuple[GlobalVar, ...]
    top_calls: tuple[TopCall, ...]
    errors: tuple[ParseError, ...] = field(default_factory=tuple)
