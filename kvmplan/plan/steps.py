"""The refactor steps of the seed thread, as data.

Sean Christopherson, "Re: [PATCH v8 003/103] KVM: Refactor CPU compatibility
check on module initialization" (2022-08-11), proposes overhauling KVM's
hardware enabling in steps 1, 2, 3, 4 and then 5a or 5b. Each step here
holds its text, its prerequisites, its detector (kvmplan.plan.detect), the
ways to perform it in the model (kvmplan.plan.transforms), and what a
maintainer needs to write it: suggested shortlogs, risks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kvmplan.graph.hooks import HookGraph
from kvmplan.plan import detect
from kvmplan.plan.roles import Facts
from kvmplan.plan.status import Assessment
from kvmplan.plan.transforms import VARIANTS, Variant

Detector = Callable[[Facts, "HookGraph | None"], Assessment]


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    intent: str
    requires: tuple[str, ...]
    excludes: tuple[str, ...]
    detect: Detector
    variants: tuple[Variant, ...]
    shortlogs: tuple[str, ...]
    risks: tuple[str, ...]
    also: tuple[str, ...] = ()          # files outside the model's code to change too
    rationale: str = ""


def _plain(fn: Callable[[Facts], Assessment]) -> Detector:
    return lambda f, opt_out: fn(f)


STEPS: tuple[Step, ...] = (
    Step(
        id="1",
        title="Snapshot user-return MSRs on first use",
        intent="x86 snapshots the host's user-return MSR values the first time a CPU uses them "
               "(a flag in the per-CPU struct kvm_user_return_msrs), not from the per-CPU "
               "hardware enable, which runs in IPI context and can snapshot another "
               "hypervisor's guest values.",
        requires=(),
        excludes=(),
        detect=_plain(detect.detect_uret),
        variants=VARIANTS["1"],
        shortlogs=(("KVM: x86: Snapshot host user-return MSRs on first use, not when enabling "
                    "hardware"),),
        risks=(
            ("kvm_set_user_return_msr() runs with preemption disabled on the CPU whose values it "
             "caches; the snapshot must be taken there, before the first WRMSR."),
            ("The restore side (drop_user_return_notifiers() from the per-CPU disable) still runs "
             "from IPIs: this step does not fix KVM013 for the restore."),
        ),
    ),
    Step(
        id="2",
        title="Drop kvm_count_lock; protect kvm_usage_count with kvm_lock and cpus_read_lock()",
        intent="kvm_usage_count and the enable/disable-all passes are serialised by kvm_lock, "
               "and CPU hotplug is excluded with cpus_read_lock() while they run, so a CPU "
               "coming up can't be missed and the raw spinlock goes away.",
        requires=(),
        excludes=(),
        detect=_plain(detect.detect_usage_lock),
        variants=VARIANTS["2"],
        shortlogs=("KVM: Disable CPU hotplug during hardware enabling/disabling",
                   "KVM: Drop kvm_count_lock and instead protect kvm_usage_count with kvm_lock"),
        risks=(
            ("kvm_lock is a mutex: a STARTING/DYING cpuhp callback (IRQs off) can't take it. "
             "Until the callbacks move to the ONLINE section (stage 3), they must rely on "
             "cpu_hotplug_lock, which cpu_up()/cpu_down() hold for write."),
            ("Lock order: cpus_read_lock() must be taken outside kvm_lock, because the hotplug "
             "callbacks run under cpu_hotplug_lock and may take kvm_lock (document it in "
             "Documentation/virt/kvm/locking.rst)."),
            ("x86 takes cpus_read_lock() for static_call_update() while loading a vendor module; "
             "never hold kvm_lock around vendor module init."),
        ),
        also=(("Documentation/virt/kvm/locking.rst (lock order, kvm_lock protects "
               "kvm_usage_count)"),),
    ),
    Step(
        id="3",
        title="Arch hooks for \"power management\" transitions (hotplug, suspend, reboot)",
        intent="Common code calls an arch hook at each transition (CPU online/offline, "
               "suspend/resume, reboot/shutdown) so that x86 stops overloading its per-CPU "
               "hardware enable for TSC fix-ups and user-return MSRs, and a hotplug failure can "
               "refuse the CPU.",
        requires=("1", "2"),
        excludes=(),
        detect=_plain(detect.detect_pm_hooks),
        variants=VARIANTS["3"],
        shortlogs=("KVM: Rename and move CPUHP_AP_KVM_STARTING to ONLINE section",
                   "KVM: Add arch hooks for CPU online/offline, suspend/resume and shutdown",
                   "KVM: Use syscore_ops instead of reboot_notifier to hook restart/shutdown",
                   "KVM: x86: Do the TSC fix-up for existing VMs from the online/resume hooks"),
        risks=(
            ("ONLINE callbacks run after the CPU is in cpu_online_mask: an on_each_cpu() from the "
             "enable-all pass can reach the CPU before its callback does, so the enable-all pass "
             "must hold cpus_read_lock() (stage 2) and the per-CPU enable must stay idempotent."),
            ("syscore .shutdown runs on one CPU with IRQs off after system_state is set; an "
             "enable racing with it must see system_state and undo itself."),
            ("The TSC fix-up walks vm_list: under kvm_lock from the online hook, lockless only "
             "from resume (tasks are frozen)."),
        ),
        also=("include/linux/cpuhotplug.h (CPUHP_AP_KVM_ONLINE in the ONLINE section)",
              ("include/linux/kvm_host.h (hook prototypes; __weak defaults for the other "
               "architectures)")),
    ),
    Step(
        id="4",
        title="Rename kvm_arch_post_init_vm() to kvm_arch_add_vm(); call it under kvm_lock "
              "with kvm_usage_count",
        intent="The arch sees each VM join vm_list atomically with the usage count, so it can "
               "enable hardware when the count goes from 0 to 1 (5a/5b) and nothing can slip "
               "between the hook and list_add().",
        requires=("2",),
        excludes=(),
        detect=_plain(detect.detect_add_vm),
        variants=VARIANTS["4"],
        shortlogs=(("KVM: Rename kvm_arch_post_init_vm() to kvm_arch_add_vm() and call it under "
                    "kvm_lock"),),
        risks=(
            ("Sean's sketch takes kvm_lock, then cpus_read_lock(): once a hotplug callback "
             "takes kvm_lock under cpu_hotplug_lock that order deadlocks (the model shows it "
             "when it does); take cpus_read_lock() first."),
            ("The arch hook now runs under kvm_lock and cpus_read_lock(): nothing it calls may "
             "take either or wait for a task that does (its callees are in the evidence)."),
            ("kvm_destroy_vm() needs the mirror image (kvm_arch_remove_vm()); until then the VM "
             "leaves vm_list under kvm_lock only."),
        ),
        also=("include/linux/kvm_host.h (prototype)",
              "other architectures' kvm_arch_post_init_vm() (only x86 overrides the __weak one)"),
    ),
    Step(
        id="5a",
        title="Drop cpus_hardware_enabled and the common enable/disable code",
        intent="Arch code decides when and how to enable: x86 enables from kvm_arch_add_vm() "
               "when the count is 0 and from its PM hooks, with its own per-CPU flag and error "
               "handling; common code only counts users.",
        requires=("3",),
        excludes=("5b",),
        detect=detect.detect_drop_common,
        variants=VARIANTS["5a"],
        shortlogs=(("KVM: x86: Enable hardware virtualization from kvm_arch_add_vm() and the PM "
                    "hooks"),
                   "KVM: Drop cpus_hardware_enabled and the common hardware enabling code"),
        risks=(
            ("Every architecture that enables hardware (arm64, RISC-V, MIPS, x86) re-implements "
             "the per-CPU flag and the error collection across the IPI."),
            ("arm64 keeps hardware enabled for pKVM and has its own kvm_arm_hardware_enabled; "
             "its hooks must not disable what pKVM needs."),
        ),
        also=("include/linux/kvm_host.h (kvm_arch_hardware_enable/disable become arch-private)",
              "arch/arm64, arch/riscv, arch/mips: each takes over its own enabling"),
    ),
    Step(
        id="5b",
        title="Expose common enable helpers (no arch error handling or per-CPU flags)",
        intent="Common code keeps one per-CPU flag and the error handling and exports "
               "kvm_hardware_enable_all()/kvm_hardware_enable(); arch hooks decide when to "
               "call them.",
        requires=("3",),
        excludes=("5a",),
        detect=detect.detect_expose_common,
        variants=VARIANTS["5b"],
        shortlogs=("KVM: Use a per-CPU variable to track which CPUs have enabled virtualization",
                   "KVM: Make hardware_enable_failed a local variable in the \"enable all\" path",
                   "KVM: Export kvm_hardware_enable_all() and kvm_hardware_enable() to arch code",
                   ("KVM: x86: Enable hardware virtualization from kvm_arch_add_vm() and the PM "
                    "hooks")),
        risks=(
            ("Exported helpers must check their locking (lockdep_assert_cpus_held()); an arch "
             "calling them from the wrong context reintroduces the hotplug races."),
            ("s390 and PPC need no enabling: let them opt out (a Kconfig symbol such as "
             "KVM_GENERIC_HARDWARE_ENABLING) rather than carry empty hooks."),
        ),
        also=("include/linux/kvm_host.h (the exported helpers)",),
        rationale=("x86 is the only architecture whose enable can fail, but arm64, RISC-V and "
                   "MIPS enable hardware too; 5b keeps the per-CPU flag and the IPI error "
                   "collection in one place instead of one copy per architecture, and s390/PPC "
                   "can opt out. It is also the way upstream went: by v6.12 common code "
                   "tracks enabled CPUs in a per-CPU bool and exports "
                   "kvm_enable_virtualization()."),
    ),
)

STEP_BY_ID: dict[str, Step] = {s.id: s for s in STEPS}


def assess(graph: HookGraph, opt_out: HookGraph | None = None) -> dict[str, Assessment]:
    """Every step's status on `graph`, by id."""
    facts = Facts(graph)
    return {s.id: s.detect(facts, opt_out) for s in STEPS}
