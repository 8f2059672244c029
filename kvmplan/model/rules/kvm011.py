"""KVM011 setup-order, warning: Init: no consumer before its producer; /dev/kvm comes last.

## What it checks

Two orderings in module init:
  (a) once /dev/kvm is registered (misc_register), init does no further
      lifecycle work (registrations, counter or per-CPU changes, cpuhp
      setup): from that point userspace can create VMs against a
      half-initialized KVM;
  (b) no consumer before its producer: module init reads no variable the
      vendor's hardware_setup() writes (itself or through what it calls,
      e.g. kvm_configure_mmu()'s tdp_enabled, the MMU masks) before that
      hardware_setup() has been called. The read is in a condition, a
      value or a call's argument, in the code the model runs.

## Why it matters

/dev/kvm is the front door: KVM_CREATE_VM can arrive as soon as
misc_register() returns. "KVM: Register /dev/kvm as the _very_ last
thing during initialization" (2022) made it the last call of kvm_init(),
and the 6.3 rework made kvm_init() the last call of vmx_init() and
svm_init(), whose vendor code kept setting things up after it (the L1TF
flush mode, per-CPU lists). In 2022
(https://lore.kernel.org/r/20220624232735.3090056-3-seanjc@google.com),
kvm_mmu_vendor_module_init() allocated the MMU caches before the
vendor's hardware_setup() had configured the MMU (TDP or not), so the
allocation could not depend on that choice; the fix moved it to
kvm_mmu_hardware_setup(), run after kvm_ops_update().

## Example

    r = misc_register(&kvm_dev);
    if (r)
        goto err_register;

    register_syscore_ops(&kvm_syscore_ops);    /* /dev/kvm is already open */
    return 0;

Trace shape: init registers /dev/kvm and goes on; the finding points at
register_syscore_ops() and names the misc_register() line before it.

## How to fix

Make misc_register(&kvm_dev) the last step of the whole module init,
vendor part included (kvm_init() last in vmx_init()/svm_init()), and
unwind it first on failure. For a consumer, call it after the vendor's
hardware_setup() has returned, from the code that calls it (the 2022 fix
added kvm_mmu_hardware_setup() after it).

## How kvmplan checks it

model: init paths, for work after misc_register() and, at each event
that reads a variable hardware_setup() writes (program.produced_by_setup),
whether hardware_setup() has been called yet.

## What it cannot see

Init work other than counts, vm_list changes, registrations, cpuhp states
and enables after /dev/kvm. For (b): values hardware_setup() produces in
struct fields (kvm_caps.x) or through pointers, reads in code the model
doesn't run (a function that touches no lifecycle state and calls none),
and reads hidden in macros the front-end doesn't expand.

## Messages

- work: module init still {what} after /dev/kvm was exposed by {fn}() at
  {file}:{line}: userspace can already create VMs against a half-initialized
  KVM
- consumer: module init reads {names} before the vendor's hardware_setup()
  has run, which sets {them}: a consumer before its producer
"""

from __future__ import annotations

from kvmplan.model.rules.base import (
    INIT, At, Check, Facts, Report, Rule, RuleCheck, Site, broken, enable_succeeds, facts,
)


RULE: Rule = Rule.from_doc(__doc__)

# Bookkeeping: World.exposed, (function, file, line) where module init
# registered /dev/kvm.


def register(at: At) -> list[Report]:
    assert at.thread is not None
    if at.kind == "misc" and at.thread.name == "init" and at.world.module == "loading":
        at.world.exposed = at.site
    return []


def init_work(at: At) -> list[Report]:
    """Lifecycle work (`at.verb` says which) by module init after /dev/kvm,
    while it is still registered (a failed misc_register() exposed nothing)."""
    w, exposed = at.world, at.world.exposed
    assert at.thread is not None
    if at.thread.name != "init" or w.module != "loading" or exposed is None \
            or not any(kind == "misc" for kind, _ in w.regs):
        return []
    fn, file, line = exposed
    return [Report(RULE.say("work", what=at.verb, fn=fn, file=file, line=line))]


def enable(at: At) -> list[Report]:
    if at.outcome != "on":
        return []
    return init_work(At(at.world, at.program, at.thread, site=at.site,
                        verb="enables virtualization"))


def setup_begin(at: At) -> list[Report]:
    assert at.thread is not None
    if at.thread.name == "init":
        at.world.produced = True
    return []


def consume(at: At) -> list[Report]:
    """A read of what hardware_setup() produces, by module init before it."""
    assert at.thread is not None
    if at.thread.name != "init" or at.world.produced:
        return []
    them = "it" if "," not in at.name else "them"
    return [Report(RULE.say("consumer", names=at.name, them=them))]


CHECK = Check({"register": register, "init_work": init_work, "enable": enable,
               "setup_begin": setup_begin, "consume": consume})


def _promela_decls(f: Facts) -> list[str]:
    return ["bit exposed;  /* KVM011: module init has registered /dev/kvm */",
            "bit produced;  /* KVM011: module init has called the vendor's hardware_setup() */"]


def _promela_setup_begin(s: Site) -> list[str]:
    return ["produced = 1"] if s.thread == INIT else []


def _promela_consume(s: Site) -> list[str]:
    return broken("KVM011", "!produced") if s.thread == INIT else []


def _promela_register(s: Site) -> list[str]:
    return ["exposed = 1"] if s.kind == "misc" and s.thread == INIT else []


def _exposed(s: Site) -> str:
    """/dev/kvm was registered by module init and still is."""
    return f"exposed && ({facts(s).dev_kvm})"


def _promela_work(s: Site) -> list[str]:
    return broken("KVM011", _exposed(s)) if s.thread == INIT else []


def _promela_enable(s: Site) -> list[str]:
    return broken("KVM011", f"{_exposed(s)} && {enable_succeeds(s)}") if s.thread == INIT else []


PROMELA = RuleCheck("KVM011", "module init does no lifecycle work after it registered /dev/kvm, "
                    "and reads nothing the vendor's hardware_setup() writes before calling it",
                    (("register", _promela_register), ("init_work", _promela_work),
                     ("enable", _promela_enable), ("setup_begin", _promela_setup_begin),
                     ("consume", _promela_consume)), decls=_promela_decls)
