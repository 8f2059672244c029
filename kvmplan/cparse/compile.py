"""Compile one C function body (a tree-sitter node) into a flat event stream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from typing import Any

from tree_sitter import Node

from kvmplan.cparse import events as ev
from kvmplan.cparse.events import Cond, Event
from kvmplan.cparse.tables import rows

_STATIC_CALLERS = {"static_call": "static_call", "static_call_cond": "static_call",
                   "static_call_mod": "static_call"}
_OPS_CALLERS = {"kvm_x86_call": "kvm_x86_ops", "kvm_pmu_call": "kvm_pmu_ops"}


@lru_cache(maxsize=1)
def primitives() -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """C name → (event kind, mode, operands) from grammars/primitives.txt."""
    table: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for name, kind, mode, operands in rows("primitives.txt", 4):
        table[name] = (kind, "" if mode == "-" else mode,
                       () if operands == "-" else tuple(operands.split(",")))
    return table


@lru_cache(maxsize=1)
def vm_objects() -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    """The VM's struct names and the (struct, member) pairs that point to
    the VM, from grammars/objects.txt."""
    structs: set[str] = set()
    refs: set[tuple[str, str]] = set()
    for kind, name in rows("objects.txt", 2):
        if kind == "vm":
            structs.add(name)
        elif kind == "vm_ref":
            struct, member = name.split(".", 1)
            refs.add((struct, member))
    return frozenset(structs), frozenset(refs)


@lru_cache(maxsize=1)
def iterators() -> dict[str, tuple[str, str]]:
    """Iterator/scope macro → (kind, operand) from grammars/iterators.txt."""
    return {name: (kind, operand) for name, kind, operand in rows("iterators.txt", 3)}


def text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return " ".join(node.text.decode("utf-8", "replace").split())


def strip_ref(expr: str) -> str:
    """`&kvm->lock` → `kvm->lock`; `(&x)` → `x`."""
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")"):
        expr = expr[1:-1].strip()
    while expr.startswith("&"):
        expr = expr[1:].strip()
    return expr.replace(" ", "")


def member_name(expr: str) -> str:
    """The last member of `&kvm->vm_list` → `vm_list`."""
    expr = strip_ref(expr)
    for sep in ("->", "."):
        if sep in expr:
            expr = expr.rsplit(sep, 1)[1]
    return expr


class FunctionCompiler:
    def __init__(self, globals_: frozenset[str], params: dict[str, str]):
        self.globals = globals_
        self.locals: dict[str, str] = dict(params)   # name → type text
        self.out: list[dict[str, Any]] = []
        self.labels: dict[str, int] = {}
        self.gotos: list[tuple[int, str]] = []
        self.loops: list[tuple[list[int], list[int]]] = []  # (break patches, continue patches)
        self.guards: list[tuple[str, str, int]] = []  # (lock, mode, block depth)
        self.depth = 0
        self.tmp = 0

    # --- emission -------------------------------------------------------------
    def emit(self, kind: str, node: Node, *, at_end: bool = False, **fields: Any) -> int:
        fields["kind"] = kind
        fields["line"] = (node.end_point[0] if at_end else node.start_point[0]) + 1
        self.out.append(fields)
        return len(self.out) - 1

    def here(self) -> int:
        return len(self.out)

    def patch(self, indices: list[int], target: int | None = None) -> None:
        where = self.here() if target is None else target
        for i in indices:
            self.out[i]["target"] = where

    def keeps(self, name: str) -> bool:
        """`name` outlives the function: a global, or a field of something."""
        return strip_ref(name) in self.globals or "->" in name or "." in name

    def new_tmp(self) -> str:
        self.tmp += 1
        return f"${self.tmp}"

    # --- function ---------------------------------------------------------------
    def compile_body(self, body: Node) -> tuple[Event, ...]:
        self.block(body, function_level=True)
        end_line = body.end_point[0] + 1
        self.out.append({"kind": ev.RETURN, "line": end_line, "value": "", "implicit": True})
        for index, label in self.gotos:
            self.out[index]["target"] = self.labels.get(label, len(self.out) - 1)
        events = [
            Event(
                kind=e["kind"], line=e["line"], name=e.get("name", ""),
                args=tuple(e.get("args", ())), slot=e.get("slot", ""),
                cond=e.get("cond"), target=e.get("target", -1), mode=e.get("mode", ""),
                scope=e.get("scope", ""), value=e.get("value", ""),
            )
            for e in self.out
        ]
        return tuple(with_locks(name_dynamic_states(events, self.keeps)))

    # --- statements ---------------------------------------------------------------
    def block(self, node: Node, function_level: bool = False) -> None:
        self.depth += 1
        depth = self.depth
        children = [c for c in node.named_children if c.type != "comment"]
        i = 0
        while i < len(children):
            child = children[i]
            nxt = children[i + 1] if i + 1 < len(children) else None
            if nxt is not None and self.iterator_head(child) is not None:
                self.iterator(child, nxt)
                i += 2
                continue
            if child.type == "function_definition" and text(child.child_by_field_name("type")) in iterators():
                self.iterator_definition(child)
                i += 1
                continue
            self.statement(child)
            i += 1
        # guards declared in this block are released at its end
        self.release_guards(node, lambda d: d >= depth, end=True)
        self.depth -= 1

    def iterator_head(self, node: Node) -> Node | None:
        """The call of `list_for_each_entry(...)` when it opens a loop body."""
        if node.type != "expression_statement":
            return None
        call = node.named_children[0] if node.named_children else None
        if call is None or call.type != "call_expression":
            return None
        fn = call.child_by_field_name("function")
        if fn is None or fn.type != "identifier":
            return None
        if text(fn) not in iterators():
            return None
        missing = any(c.is_missing for c in node.children)
        return call if missing or not node.text or not node.text.rstrip().endswith(b";") else None

    def iterator(self, head: Node, body: Node) -> None:
        call = self.iterator_head(head)
        assert call is not None
        name = text(call.child_by_field_name("function"))
        self.open_iterator(head, name, tuple(self.arg_texts(call)), body)

    def iterator_definition(self, node: Node) -> None:
        # `for_each_online_cpu(cpu) { ... }` reads as a nested definition
        # when the macro's only argument is an identifier.
        decl = node.child_by_field_name("declarator")
        args = (declared_name(decl),) if decl is not None else ()
        self.open_iterator(node, text(node.child_by_field_name("type")), args,
                           node.child_by_field_name("body"))

    def open_iterator(self, node: Node, name: str, args: tuple[str, ...], body: Node | None) -> None:
        """An iterator or scope macro (grammars/iterators.txt) over `body`."""
        kind, operand = iterators()[name]
        if kind == "scope":
            # scoped_guard(mutex, &lock) { ... }: held for the block only
            mode = args[0] if args else name
            lock = strip_ref(args[1]) if len(args) > 1 else mode
            self.emit(ev.LOCK, node, name=lock, mode=mode, scope="scoped")
            if body is not None:
                self.statement(body)
            self.emit(ev.UNLOCK, body or node, at_end=True, name=lock, mode=mode, scope="scoped")
            return
        subject = operand
        if operand.startswith("a") and operand[1:].isdigit():
            idx = int(operand[1:])
            subject = member_name(args[idx]) if idx < len(args) else ""
        self.loop(node, name, kind, args, subject, body)

    def loop(self, node: Node, name: str, kind: str, args: tuple[str, ...], subject: str,
             body: Node | None, cond: Node | None = None) -> None:
        head = self.emit(ev.LOOP, node, name=subject or name, mode=kind, args=args, value=name)
        exits: list[int] = []
        if cond is not None:
            self.branch_false(cond, exits)
        self.loops.append(([], []))
        if body is not None:
            self.statement(body)
        breaks, continues = self.loops.pop()
        self.patch(continues)
        self.emit(ev.LOOP_END, body or node, at_end=True, target=head, name=subject or name)
        self.patch(exits)
        self.patch(breaks)
        self.out[head]["target"] = self.here()

    def statement(self, node: Node) -> None:
        t = node.type
        if t == "compound_statement":
            self.block(node)
        elif t == "expression_statement":
            for child in node.named_children:
                self.effect(child)
        elif t == "declaration":
            self.declaration(node)
        elif t == "if_statement":
            self.if_statement(node)
        elif t == "return_statement":
            value = node.named_children[0] if node.named_children else None
            atom = self.expr(value) if value is not None else ""
            self.release_guards(node, lambda d: True)
            self.emit(ev.RETURN, node, value=atom)
        elif t == "goto_statement":
            label = text(node.child_by_field_name("label"))
            self.release_guards(node, lambda d: d > 1)
            self.gotos.append((self.emit(ev.JUMP, node, name=label), label))
        elif t == "labeled_statement":
            label = text(node.child_by_field_name("label"))
            self.labels[label] = self.emit(ev.LABEL, node, name=label)
            for child in node.named_children[1:]:
                self.statement(child)
        elif t == "break_statement":
            if self.loops:
                self.loops[-1][0].append(self.emit(ev.JUMP, node, name="break"))
        elif t == "continue_statement":
            if self.loops:
                self.loops[-1][1].append(self.emit(ev.JUMP, node, name="continue"))
        elif t == "for_statement":
            init = node.child_by_field_name("initializer")
            if init is not None:
                self.statement(init) if init.type == "declaration" else self.effect(init)
            self.loop(node, "for", "for", (), "for", node.child_by_field_name("body"),
                      node.child_by_field_name("condition"))
        elif t == "while_statement":
            self.loop(node, "while", "while", (), "while", node.child_by_field_name("body"),
                      node.child_by_field_name("condition"))
        elif t == "do_statement":
            self.loop(node, "do", "do", (), "do", node.child_by_field_name("body"))
        elif t == "switch_statement":
            self.switch(node)
        elif t in ("case_statement",):
            for child in node.named_children[1:]:
                self.statement(child)
        elif t == "gnu_asm_expression":
            self.asm(node)
        elif t in ("preproc_call", "preproc_def", "preproc_function_def", "comment",
                   "type_definition", "struct_specifier", "ERROR"):
            if t == "ERROR":
                for child in node.named_children:
                    if child.type.endswith("expression"):
                        self.effect(child)
        else:
            for child in node.named_children:
                if child.type.endswith("_statement") or child.type == "compound_statement":
                    self.statement(child)
                elif child.type.endswith("expression"):
                    self.effect(child)

    def declaration(self, node: Node) -> None:
        type_text = text(node.child_by_field_name("type"))
        for decl in node.children_by_field_name("declarator"):
            if decl.type == "init_declarator":
                name = declared_name(decl.child_by_field_name("declarator"))
                self.locals[name] = type_text
                value = decl.child_by_field_name("value")
                if value is not None and value.type != "initializer_list":
                    self.assign(name, value, decl)
            else:
                self.locals[declared_name(decl)] = type_text

    def if_statement(self, node: Node) -> None:
        cond = node.child_by_field_name("condition")
        false_patches: list[int] = []
        self.branch_false(cond, false_patches)
        self.statement(node.child_by_field_name("consequence"))
        alt = node.child_by_field_name("alternative")
        if alt is None:
            self.patch(false_patches)
            return
        end = self.emit(ev.JUMP, alt, name="endif")
        self.patch(false_patches)
        for child in alt.named_children:
            self.statement(child)
        self.patch([end])

    def switch(self, node: Node) -> None:
        cond = node.child_by_field_name("condition")
        subject = self.expr(cond) if cond is not None else ""
        body = node.child_by_field_name("body")
        cases = [c for c in (body.named_children if body else []) if c.type == "case_statement"]
        tests: list[int] = []
        jumps: list[tuple[int, int]] = []
        default = -1
        for i, case in enumerate(cases):
            value = case.child_by_field_name("value")
            if value is None:
                default = i
                continue
            tests.append(self.emit(ev.BRANCH, case, cond=("not", ("case", f"{subject}=={text(value)}"))))
            jumps.append((tests[-1], i))
        to_default = self.emit(ev.JUMP, node, name="switch")
        self.loops.append(([], []))
        starts: list[int] = []
        for case in cases:
            starts.append(self.here())
            for child in case.named_children[1 if case.child_by_field_name("value") else 0:]:
                if child == case.child_by_field_name("value"):
                    continue
                self.statement(child)
        breaks, continues = self.loops.pop()
        for index, case_i in jumps:
            self.out[index]["target"] = starts[case_i]
        self.out[to_default]["target"] = starts[default] if default >= 0 else self.here()
        self.patch(breaks)
        if self.loops:
            self.loops[-1][1].extend(continues)

    def asm(self, node: Node) -> None:
        template = text(node.child_by_field_name("assembly_code"))
        mnemonic = template.strip('"').replace("1:", "").strip().split(" ")[0].split("\\")[0]
        self.emit(ev.ASM, node, name=mnemonic.lower())
        goto = node.child_by_field_name("goto_labels")
        if goto is not None:
            for label in goto.named_children:
                idx = self.emit(ev.BRANCH, node, cond=("not", ("fault", mnemonic.lower())))
                self.gotos.append((idx, text(label)))

    def release_guards(self, node: Node, which: Any, end: bool = False) -> None:
        for lock, mode, depth in reversed(self.guards):
            if which(depth) and (not end or depth == self.depth):
                self.emit(ev.UNLOCK, node, at_end=end, name=lock, mode=mode, scope="guard")
        if end:
            self.guards = [g for g in self.guards if g[2] < self.depth]

    # --- conditions ---------------------------------------------------------------
    def branch_false(self, node: Node | None, patches: list[int], want: bool = False) -> None:
        """Emit branches that jump (to the patched target) when `node` is false.
        `want` is the value the model gives `node` when it can't evaluate its
        tests: the whole condition is false unless a `!` turns it around, so
        an unknown `if (a || b)` skips its block just as `if (a)` does. Each
        branch says which way that is (mode "fall": fall through, else jump)."""
        if node is None:
            return
        node = _unparen(node)
        if node.type == "binary_expression":
            op = text(node.child_by_field_name("operator"))
            if op == "&&":
                self.branch_false(node.child_by_field_name("left"), patches, want)
                self.branch_false(node.child_by_field_name("right"), patches, want)
                return
            if op == "||":
                true_patches: list[int] = []
                self.branch_true(node.child_by_field_name("left"), true_patches, want)
                self.branch_false(node.child_by_field_name("right"), patches, want)
                self.patch(true_patches)
                return
        if node.type == "unary_expression" and text(node.child_by_field_name("operator")) == "!":
            self.branch_true(node.child_by_field_name("argument"), patches, not want)
            return
        cond = self.cond(node)
        patches.append(self.emit(ev.BRANCH, node, cond=cond, mode="fall" if want else ""))

    def branch_true(self, node: Node | None, patches: list[int], want: bool = False) -> None:
        """Emit branches that jump when `node` is true (`want`: as branch_false)."""
        if node is None:
            return
        node = _unparen(node)
        if node.type == "binary_expression":
            op = text(node.child_by_field_name("operator"))
            if op == "||":
                self.branch_true(node.child_by_field_name("left"), patches, want)
                self.branch_true(node.child_by_field_name("right"), patches, want)
                return
            if op == "&&":
                false_patches: list[int] = []
                self.branch_false(node.child_by_field_name("left"), false_patches, want)
                self.branch_true(node.child_by_field_name("right"), patches, want)
                self.patch(false_patches)
                return
        if node.type == "unary_expression" and text(node.child_by_field_name("operator")) == "!":
            self.branch_false(node.child_by_field_name("argument"), patches, not want)
            return
        cond = self.cond(node)
        patches.append(self.emit(ev.BRANCH, node, cond=("not", cond), mode="" if want else "fall"))

    def cond(self, node: Node) -> Cond:
        node = _unparen(node)
        t = node.type
        if t == "identifier":
            return self.name_cond(text(node))
        if t in ("number_literal", "true", "false", "null"):
            return ("const", text(node))
        if t == "unary_expression" and text(node.child_by_field_name("operator")) == "!":
            return ("not", self.cond(node.child_by_field_name("argument")))
        if t == "binary_expression":
            op = text(node.child_by_field_name("operator"))
            if op in ("==", "!=", "<", ">", "<=", ">="):
                left = self.cond(node.child_by_field_name("left"))
                right = self.cond(node.child_by_field_name("right"))
                return ("cmp", op, left, right)
            if op in ("&&", "||"):
                a = self.cond(node.child_by_field_name("left"))
                b = self.cond(node.child_by_field_name("right"))
                return ("and" if op == "&&" else "or", a, b)
        if t == "field_expression" and self.vm_field(node):
            return ("global", self.vm_field(node))
        atom = self.expr(node)
        if atom.startswith("$"):
            return ("slot", atom)
        return ("unknown", atom)

    def name_cond(self, name: str) -> Cond:
        if name in self.locals:
            return ("slot", name)
        if name in self.globals:
            return ("global", name)
        if name.isupper():
            return ("const", name)
        return ("global", name)

    # --- expressions --------------------------------------------------------------
    def effect(self, node: Node) -> None:
        """An expression evaluated for its side effects."""
        node = _unparen(node)
        t = node.type
        if t == "assignment_expression":
            left = node.child_by_field_name("left")
            op = text(node.child_by_field_name("operator"))
            right = node.child_by_field_name("right")
            target = text(left)
            if op == "=":
                self.assign(target, right, node, left)
            else:
                value = self.expr(right)
                field = self.vm_field(left)
                if field:
                    # `kvm->x |= y`: the VM's field, to a value the model doesn't compute
                    self.emit(ev.ASSIGN, node, name=field, value="?", scope="vm")
                elif left is not None and left.type == "identifier" and target in self.globals:
                    self.emit(ev.COUNT, node, name=target, mode="inc" if op == "+=" else "dec"
                              if op == "-=" else "set", value=value)
                elif left is not None and left.type == "identifier" and target not in self.locals:
                    # `x |= y` on a variable of another file: written, to a
                    # value the model doesn't compute
                    self.emit(ev.ASSIGN, node, name=target, value="?")
            return
        if t == "call_expression":
            self.call(node, slot="")
            return
        if t == "comma_expression":
            for child in node.named_children:
                self.effect(child)
            return
        if t == "gnu_asm_expression":
            self.asm(node)
            return
        self.expr(node)

    def assign(self, target: str, value: Node | None, node: Node, left: Node | None = None) -> None:
        if value is None:
            return
        value = _unparen(value)
        field = self.vm_field(left) if left is not None else ""
        if field:
            self.assign_vm(field, value, node, left)
            return
        if value.type == "call_expression":
            self.call(value, slot=target)
            return
        if left is not None and left.type not in ("identifier", "field_expression"):
            self.expr(value)
            return
        if left is not None and left.type == "field_expression":
            base = text(left.child_by_field_name("argument"))
            if base not in self.globals:
                self.expr(value)
                return
        scope = "local" if target in self.locals else ""
        if _is_logical(value):
            self.assign_logical(target, value, node, scope)
            return
        if value.type == "conditional_expression" and value.child_by_field_name("consequence"):
            self.assign_conditional(target, value, node, left, scope)
            return
        atom = self.vm_field(value) or self.expr(value)
        self.emit(ev.ASSIGN, node, name=target, value=atom, scope=scope)

    def assign_vm(self, field: str, value: Node, node: Node, left: Node | None) -> None:
        """`kvm->arch.x = v;`: a write of the VM's field (scope "vm"), which
        the model follows when it tracks the field (Program.vm_fields)."""
        if value.type == "call_expression":
            atom = self.call(value, slot=self.new_tmp())
        elif _is_logical(value):
            self.assign_logical(field, value, node, "vm")
            return
        elif value.type == "conditional_expression" and value.child_by_field_name("consequence"):
            self.assign_conditional(field, value, node, left, "vm")
            return
        else:
            atom = self.vm_field(value) or self.expr(value)
        self.emit(ev.ASSIGN, node, name=field, value=atom, scope="vm")

    def assign_logical(self, target: str, value: Node, node: Node, scope: str) -> None:
        """`x = a && !f();` is 1 or 0, and `&&`/`||` evaluate their right
        side only when the left one doesn't decide: the branches of
        `if (a && !f()) x = 1; else x = 0;`."""
        false_patches: list[int] = []
        self.branch_false(value, false_patches)
        self.emit(ev.ASSIGN, node, name=target, value="1", scope=scope)
        end = self.emit(ev.JUMP, node, name="endif")
        self.patch(false_patches)
        self.emit(ev.ASSIGN, node, name=target, value="0", scope=scope)
        self.patch([end])

    def assign_conditional(self, target: str, value: Node, node: Node, left: Node | None,
                           scope: str) -> None:
        """`x = c ? a : b;` is `if (c) x = a; else x = b;`."""
        false_patches: list[int] = []
        self.branch_false(value.child_by_field_name("condition"), false_patches)
        self.assign(target, value.child_by_field_name("consequence"), node, left)
        end = self.emit(ev.JUMP, node, name="endif")
        self.patch(false_patches)
        self.assign(target, value.child_by_field_name("alternative"), node, left)
        self.patch([end])

    def expr(self, node: Node | None) -> str:
        """Evaluate calls inside `node` in order; return an atom naming its value."""
        if node is None:
            return ""
        node = _unparen(node)
        t = node.type
        if t == "call_expression":
            slot = self.new_tmp()
            return self.call(node, slot=slot)
        if t == "update_expression":
            arg = node.child_by_field_name("argument")
            name = text(arg)
            op = text(node.child_by_field_name("operator"))
            field = self.vm_field(arg)
            if field or (arg is not None and arg.type == "identifier" and name in self.globals):
                slot = self.new_tmp()
                prefix = node.children[0].type in ("++", "--")
                self.emit(ev.COUNT, node, name=field or name, mode="inc" if op == "++" else "dec",
                          slot=slot, value="new" if prefix else "old", scope="vm" if field else "")
                return slot
            if arg is not None and arg.type == "identifier" and name not in self.locals:
                # a variable of another file: written, to a value the model doesn't compute
                self.emit(ev.ASSIGN, node, name=name, value="?")
            return text(node)
        if t == "assignment_expression":
            self.effect(node)
            return text(node.child_by_field_name("left"))
        if t == "gnu_asm_expression":
            self.asm(node)
            return ""
        if t == "conditional_expression":
            self.expr(node.child_by_field_name("condition"))
            return text(node)
        for child in node.named_children:
            if child.type in ("call_expression", "update_expression", "assignment_expression",
                              "binary_expression", "unary_expression", "cast_expression",
                              "pointer_expression", "conditional_expression", "field_expression",
                              "subscript_expression", "comma_expression", "argument_list",
                              "parenthesized_expression", "gnu_asm_expression"):
                self.expr(child)
        return text(node)

    def arg_texts(self, call: Node) -> list[str]:
        args = call.child_by_field_name("arguments")
        return [text(a) for a in (args.named_children if args else []) if a.type != "comment"]

    def call(self, node: Node, slot: str) -> str:
        fn = node.child_by_field_name("function")
        args_node = node.child_by_field_name("arguments")
        arg_nodes = [a for a in (args_node.named_children if args_node else []) if a.type != "comment"]
        fn = _unparen(fn) if fn is not None else None
        # guard(mutex)(&lock), static_call(x)(...), kvm_x86_call(op)(...)
        if fn is not None and fn.type == "call_expression":
            inner = fn.child_by_field_name("function")
            inner_name = text(inner)
            inner_args = self.arg_texts(fn)
            if inner_name == "guard":
                mode = inner_args[0] if inner_args else ""
                lock = strip_ref(text(arg_nodes[0])) if arg_nodes else mode
                self.emit(ev.LOCK, node, name=lock, mode=mode, scope="guard")
                self.guards.append((lock, mode, self.depth))
                return slot
            atoms = tuple(self.expr(a) for a in arg_nodes)
            if inner_name in _STATIC_CALLERS and inner_args:
                self.emit(ev.ICALL, node, name=inner_args[0], mode="static_call", args=atoms, slot=slot)
                return slot
            if inner_name in _OPS_CALLERS and inner_args:
                name = f"{_OPS_CALLERS[inner_name]}.{inner_args[0]}"
                self.emit(ev.ICALL, node, name=name, mode="ops_call", args=atoms, slot=slot)
                return slot
            self.emit(ev.ICALL, node, name=text(fn), mode="ptr", args=atoms, slot=slot)
            return slot
        if fn is not None and fn.type == "field_expression":
            base = fn.child_by_field_name("argument")
            field = text(fn.child_by_field_name("field"))
            base_text = text(base)
            owner = self.type_of(base_text)
            atoms = tuple(self.expr(a) for a in arg_nodes)
            self.emit(ev.ICALL, node, name=f"{owner}.{field}", mode="ptr", args=atoms, slot=slot,
                      value=base_text)
            return slot
        name = text(fn)
        prim = primitives().get(name)
        if prim is not None and prim[0] == ev.ASSIGN and len(arg_nodes) == 2:
            # WRITE_ONCE(x, v): x = v
            target = _unparen(arg_nodes[0])
            if target.type == "pointer_expression" and text(target).startswith("&"):
                target = _unparen(target.child_by_field_name("argument"))
            self.assign(text(target), arg_nodes[1], node, target)
            return slot
        # a field of the VM passed as an argument is named as the VM's
        atoms = tuple(self.vm_field(a) or self.expr(a) for a in arg_nodes)
        raw = [text(a) for a in arg_nodes]
        if prim is None:
            if fn is not None and fn.type != "identifier":
                self.emit(ev.ICALL, node, name=name, mode="ptr", args=atoms, slot=slot)
            else:
                self.emit(ev.CALL, node, name=name, args=atoms, slot=slot)
            return slot
        kind, mode, operands = prim
        ops = [_operand(o, raw) for o in operands]
        if "ret" in operands or "g0" in operands:
            # a registration that returns its handle is named by the global
            # the caller keeps it in (ret), and undone through it (g0); one
            # kept elsewhere belongs to an object (a VM's debugfs
            # directory), not to the module: an ordinary call
            handle = slot if "ret" in operands else strip_ref(raw[0]) if raw else ""
            if handle not in self.globals:
                self.emit(ev.CALL, node, name=name, args=atoms, slot=slot)
                return slot
            ops = [handle if o in ("ret", "g0") else o for o in ops]
        if kind in (ev.LOCK, ev.UNLOCK):
            self.emit(kind, node, name=strip_ref(ops[0]) if ops else name, mode=mode, scope="call",
                      slot=slot)
        elif kind in (ev.CPUHP_SETUP, ev.CPUHP_REMOVE):
            self.emit(kind, node, name=ops[0] if ops else "", mode=mode,
                      args=tuple(_unquote(o) for o in ops), slot=slot)
        elif kind == ev.CROSS_CALL:
            self.emit(kind, node, name=strip_ref(ops[0]) if ops else "", mode=mode, args=tuple(raw),
                      slot=slot)
        elif kind in (ev.REGISTER, ev.UNREGISTER):
            self.emit(kind, node, name=strip_ref(ops[0]) if ops else "", mode=mode, slot=slot,
                      args=tuple(raw))
        elif kind == ev.ASSERT:
            self.emit(kind, node, name=strip_ref(ops[0]) if ops else "", mode=mode)
        elif kind == ev.LIST_ADD:
            head = strip_ref(ops[0]) if ops else ""
            self.emit(kind, node, name=member_name(head), args=tuple(raw))
        elif kind == ev.LIST_DEL:
            self.emit(kind, node, name=member_name(ops[0]) if ops else "", args=tuple(raw))
        elif kind == ev.PERCPU_READ:
            self.emit(kind, node, name=strip_ref(ops[0]) if ops else "", slot=slot)
        elif kind == ev.PERCPU_WRITE:
            value = mode or (ops[1] if len(ops) > 1 else "")
            self.emit(kind, node, name=strip_ref(ops[0]) if ops else "", value=value)
        else:
            self.emit(ev.CALL, node, name=name, args=atoms, slot=slot)
        return slot

    def vm_field(self, node: Node | None) -> str:
        """A field of the VM: `kvm->arch.x` or `vcpu->kvm->arch.x` is named
        `kvm->arch.x` (the VM's structs and the members that point to it:
        grammars/objects.txt); "" for anything else, a field of an object
        the VM points to included."""
        if node is None:
            return ""
        node = _unparen(node)
        path: list[str] = []
        while node.type == "field_expression":
            arg = node.child_by_field_name("argument")
            field_name = text(node.child_by_field_name("field"))
            if arg is None:
                return ""
            arg = _unparen(arg)
            if text(node.child_by_field_name("operator")) == "->":
                if not self.names_vm(arg):
                    return ""
                return "kvm->" + ".".join([field_name] + path[::-1])
            path.append(field_name)
            node = arg
        return ""

    def names_vm(self, node: Node) -> bool:
        """Is `node` a pointer to the VM: a local or parameter declared as
        one, or a member that points to it?"""
        structs, refs = vm_objects()
        if node.type == "identifier":
            declared = self.locals.get(text(node))
            return declared is not None and self.type_of(text(node)) in structs
        if node.type == "field_expression" and text(node.child_by_field_name("operator")) == "->":
            base = _unparen(node.child_by_field_name("argument"))
            if base.type != "identifier" or text(base) not in self.locals:
                return False
            return (self.type_of(text(base)), text(node.child_by_field_name("field"))) in refs
        return False

    def type_of(self, base: str) -> str:
        """`ops` declared `struct kvm_x86_init_ops *ops` → `kvm_x86_init_ops`."""
        bare = strip_ref(base)
        declared = self.locals.get(bare)
        if declared:
            return declared.replace("struct ", "").replace("const ", "").replace("*", "").strip()
        return bare


def _operand(spec: str, raw: list[str]) -> str:
    if spec.startswith("a") and spec[1:].isdigit():
        idx = int(spec[1:])
        return raw[idx] if idx < len(raw) else ""
    return spec


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


_RELATIONS = frozenset({"&&", "||", "==", "!=", "<", ">", "<=", ">="})


def _is_logical(node: Node) -> bool:
    """Is the expression's value a truth (1 or 0): `!x`, `a && b`, `a == b`..."""
    if node.type == "unary_expression":
        return text(node.child_by_field_name("operator")) == "!"
    return node.type == "binary_expression" \
        and text(node.child_by_field_name("operator")) in _RELATIONS


def _unparen(node: Node) -> Node:
    while node.type == "parenthesized_expression" and node.named_children:
        node = node.named_children[0]
    return node


def declared_name(node: Node | None) -> str:
    while node is not None and node.type not in ("identifier", "field_identifier"):
        inner = node.child_by_field_name("declarator")
        if inner is None:
            named = [c for c in node.named_children if c.type in ("identifier", "field_identifier")]
            return text(named[0]) if named else text(node)
        node = inner
    return text(node)


def successors(events: list[Event], i: int) -> list[int]:
    e = events[i]
    n = len(events)
    if e.kind == ev.RETURN:
        return []
    if e.kind == ev.JUMP:
        return [e.target] if 0 <= e.target < n else []
    nxt = [i + 1] if i + 1 < n else []
    if e.kind in (ev.BRANCH, ev.LOOP) and 0 <= e.target < n:
        return nxt + [e.target]
    if e.kind == ev.LOOP_END and 0 <= e.target < n:
        return [e.target]
    return nxt


def name_dynamic_states(events: list[Event], kept: Callable[[str], bool]) -> list[Event]:
    """cpuhp_setup_state(CPUHP_*_DYN, ...) allocates a state and returns its
    number, which the caller keeps to remove the state later: the state is
    named by where the number is kept (`kept`: a global or a field), the
    variable the result is stored in or, from a local, the one it is copied
    to next (`saved = r;`), with its range in `value`; a removal in the same
    function through that local is renamed too. A number kept nowhere
    leaves the range's name."""
    out = list(events)
    for i, e in enumerate(events):
        if e.kind != ev.CPUHP_SETUP or not e.args or not e.args[0].endswith("_DYN") \
                or not e.slot or e.slot.startswith("$"):
            continue
        handle = e.slot if kept(e.slot) else ""
        for later in events[i + 1:] if not handle else ():
            if later.kind == ev.ASSIGN and later.value == e.slot:
                handle = later.name if kept(later.name) else ""
                break
            if later.slot == e.slot or (later.kind == ev.ASSIGN and later.name == e.slot):
                break
        if not handle:
            continue
        out[i] = replace(e, name=handle, args=(handle,) + e.args[1:], value=e.args[0])
        for j, other in enumerate(out):
            if other.kind == ev.CPUHP_REMOVE and other.name == e.slot and handle != e.slot:
                out[j] = replace(other, name=handle, args=(handle,) + other.args[1:])
    return out


def with_locks(events: list[Event]) -> list[Event]:
    """Locks certainly held before each event (a must-analysis over the stream).
    Public: the baseline splice and the planner's rewrites recompute `locks`
    with it after editing a stream."""
    n = len(events)
    if n == 0:
        return events
    state: list[tuple[str, ...] | None] = [None] * n
    state[0] = ()
    work = [0]
    while work:
        i = work.pop()
        held = state[i]
        assert held is not None
        e = events[i]
        out = held
        if e.kind == ev.LOCK and e.name not in held:
            out = held + (e.name,)
        elif e.kind == ev.UNLOCK and e.name in held:
            out = tuple(x for x in held if x != e.name)
        for j in successors(events, i):
            prev = state[j]
            new = out if prev is None else tuple(x for x in prev if x in out)
            if new != prev:
                state[j] = new
                work.append(j)
    return [replace(e, locks=state[i] or ()) for i, e in enumerate(events)]
