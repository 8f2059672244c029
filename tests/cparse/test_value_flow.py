"""The front-end's value flow: what a scalar variable holds at load, how an
assignment of a logical expression is compiled, which way an unknown
condition goes, and which writes it marks (local, or unknown)."""

from __future__ import annotations

from kvmplan.cparse import events as ev
from kvmplan.cparse.config import default_config
from kvmplan.cparse.unit import parse_file
from kvmplan.graph.build import graph_from_units

FILE = "arch/x86/kvm/vmx/x.c"


def _unit(src: str):
    return parse_file(FILE, src.encode(), default_config())


def _events(src: str, name: str) -> list[ev.Event]:
    [fn] = [f for f in _unit(src).functions if f.name == name]
    return list(fn.events)


def test_scalar_definitions_and_their_value_at_load() -> None:
    unit = _unit("""
static bool __read_mostly a = 1;
static bool b __ro_after_init;
extern bool c;
static u32 d;
static int *e;
static int f[4];
static int g = SOME_MACRO;
unsigned long long h = -1;
static struct foo i;
""")
    got = {g.name: (g.scalar, g.init) for g in unit.globals}
    assert got == {"a": (True, "1"), "b": (True, "false"), "c": (False, ""), "d": (True, "0"),
                   "e": (False, ""), "f": (False, ""), "g": (False, "SOME_MACRO"),
                   "h": (True, "-1"), "i": (False, "")}


def test_a_module_parameter_that_can_change_after_load_is_not_a_known_scalar() -> None:
    unit = _unit("""
static bool ro = true;
module_param(ro, bool, 0444);
static bool rw = true;
module_param(rw, bool, 0644);
static bool named;
module_param_named(n, named, bool, S_IRUGO);
static bool named_rw;
module_param_named(nrw, named_rw, bool, S_IRUGO | S_IWUSR);
static int with_ops;
module_param_cb(o, &some_ops, &with_ops, 0444);
static int twice;
""")
    other = parse_file("arch/x86/kvm/y.c", b"static int twice;\n", default_config())
    graph = graph_from_units("", [unit, other], {}, {}, "vmx")
    assert graph.scalars == {"named": "false", "ro": "true"}


def test_logical_assignment_evaluates_its_right_side_only_when_needed() -> None:
    events = _events("""
static bool flag;
static int __init f(void)
{
	flag = flag && !setup();
	return 0;
}
""", "f")
    kinds = [(e.kind, e.name, e.value) for e in events]
    assert kinds[:6] == [
        (ev.BRANCH, "", ""),            # flag false: jump to flag = 0, setup() not called
        (ev.CALL, "setup", ""),
        (ev.BRANCH, "", ""),            # setup() failed (non-zero): flag = 0
        (ev.ASSIGN, "flag", "1"),
        (ev.JUMP, "endif", ""),
        (ev.ASSIGN, "flag", "0"),
    ]
    assert events[0].cond == ("global", "flag") and events[0].target == 5
    assert events[2].target == 5


def test_conditional_assignment_is_an_if_else() -> None:
    events = _events("""
static int f(int a)
{
	int r;

	r = a ? 3 : -EINVAL;
	return r;
}
""", "f")
    assigns = [(e.name, e.value, e.scope) for e in events if e.kind == ev.ASSIGN]
    assert assigns == [("r", "3", "local"), ("r", "-EINVAL", "local")]


def test_an_unknown_condition_makes_the_whole_condition_false() -> None:
    """`if (!a() || !b()) x = 0;`: each test falls through or jumps so that,
    when no value is known, the block is skipped, as for `if (a())`."""
    events = _events("""
static void f(void)
{
	if (!a() || !b())
		x = 0;
	if (c() && d())
		y = 0;
	if (!(e() && g()))
		z = 0;
}
""", "f")
    branches = [e for e in events if e.kind == ev.BRANCH]
    # !a() || !b() false: a() true (don't jump into the block), b() true (jump past it)
    assert [b.mode for b in branches[:2]] == ["fall", ""]
    # c() && d() false: c() false (jump past the block)
    assert branches[2].mode == ""
    # !(e() && g()) false: e() true (go on to g()), g() true (jump past the block)
    assert [b.mode for b in branches[4:6]] == ["fall", ""]


def test_writes_are_marked_local_or_unknown() -> None:
    events = _events("""
static void f(int p)
{
	int r = 0;

	r = 1;
	p = 2;
	other_file_var |= 4;
	other_file_count++;
	g = 5;
}
""", "f")
    assigns = [(e.name, e.value, e.scope) for e in events if e.kind == ev.ASSIGN]
    assert assigns == [("r", "0", "local"), ("r", "1", "local"), ("p", "2", "local"),
                       ("other_file_var", "?", ""), ("other_file_count", "?", ""), ("g", "5", "")]
