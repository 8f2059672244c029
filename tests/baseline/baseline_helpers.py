"""A tiny kernel tree to extract baselines from, and diffs made like git's."""

from __future__ import annotations

import difflib
from pathlib import Path

from kvmplan.baseline import Baseline, extract
from kvmplan.cparse.events import FileUnit
from kvmplan.diff import FilePatch, parse_diff

CORPUS = Path("/work/shared/corpus/mail")

KVM_MAIN = """\
// SPDX-License-Identifier: GPL-2.0-only
#include <linux/kvm_host.h>

static DEFINE_MUTEX(kvm_lock);
static int kvm_usage_count;
static DEFINE_PER_CPU(bool, hardware_enabled);

static void hardware_enable_nolock(void *junk)
{
	if (__this_cpu_read(hardware_enabled))
		return;
	__this_cpu_write(hardware_enabled, true);
	kvm_arch_hardware_enable();
}

static int kvm_starting_cpu(unsigned int cpu)
{
	mutex_lock(&kvm_lock);
	if (kvm_usage_count)
		hardware_enable_nolock(NULL);
	mutex_unlock(&kvm_lock);
	return 0;
}

static int kvm_dying_cpu(unsigned int cpu)
{
	mutex_lock(&kvm_lock);
	mutex_unlock(&kvm_lock);
	return 0;
}

static int hardware_enable_all(void)
{
	int r = 0;

	mutex_lock(&kvm_lock);
	kvm_usage_count++;
	if (kvm_usage_count == 1) {
		on_each_cpu(hardware_enable_nolock, NULL, 1);
	}
	mutex_unlock(&kvm_lock);
	return r;
}

static int retry_fault(struct kvm_vcpu *vcpu)
{
	int ret = 0;
	int retry_count = 0;

	do {
		ret = try_once(vcpu);
		if (ret)
			break;
		if (++retry_count > 4) {
			pr_warn_once("retrying\\n");
			break;
		}
	} while (true);

	return ret;
}

int kvm_init(unsigned vcpu_size, unsigned vcpu_align, struct module *module)
{
	int r;
	int cpu;

	r = cpuhp_setup_state_nocalls(CPUHP_AP_KVM_STARTING, "kvm/cpu:starting",
				      kvm_starting_cpu, kvm_dying_cpu);
	if (r)
		goto out_fail;

	for_each_possible_cpu(cpu) {
		if (!alloc_cpumask_var_node(&per_cpu(cpu_kick_mask, cpu),
					    GFP_KERNEL, cpu_to_node(cpu))) {
			r = -ENOMEM;
			goto out_free;
		}
		prepare_cpu(cpu);
	}

	r = misc_register(&kvm_dev);
	if (r)
		goto out_free;
	return 0;

out_free:
	cpuhp_remove_state_nocalls(CPUHP_AP_KVM_STARTING);
out_fail:
	return r;
}
EXPORT_SYMBOL_GPL(kvm_init);

void kvm_exit(void)
{
	misc_deregister(&kvm_dev);
	cpuhp_remove_state_nocalls(CPUHP_AP_KVM_STARTING);
}
EXPORT_SYMBOL_GPL(kvm_exit);
"""

VMX = """\
// SPDX-License-Identifier: GPL-2.0-only
#include "x86.h"

static int vmx_hardware_enable(void)
{
	return 0;
}

static void vmx_hardware_disable(void)
{
}

static int __init hardware_setup(void)
{
	return 0;
}

static struct kvm_x86_ops vmx_x86_ops __initdata = {
	.name = "kvm_intel",
	.hardware_enable = vmx_hardware_enable,
	.hardware_disable = vmx_hardware_disable,
};

static struct kvm_x86_init_ops vmx_init_ops __initdata = {
	.hardware_setup = hardware_setup,
	.runtime_ops = &vmx_x86_ops,
};

static void vmx_exit(void)
{
	kvm_exit();
}
module_exit(vmx_exit);

static int __init vmx_init(void)
{
	int r;

	r = kvm_init(&vmx_init_ops, sizeof(struct vcpu_vmx),
		     __alignof__(struct vcpu_vmx), THIS_MODULE);
	if (r)
		return r;

	return 0;
}
module_init(vmx_init);
"""

CPUHOTPLUG = """\
/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __CPUHOTPLUG_H
#define __CPUHOTPLUG_H

enum cpuhp_state {
	CPUHP_INVALID = -1,
	CPUHP_OFFLINE = 0,
	CPUHP_CREATE_THREADS,
	CPUHP_BRINGUP_CPU,
	CPUHP_AP_IDLE_DEAD,
	CPUHP_AP_OFFLINE,
	CPUHP_AP_KVM_STARTING,
	CPUHP_AP_ONLINE,
	CPUHP_TEARDOWN_CPU,
	CPUHP_AP_ONLINE_IDLE,
	CPUHP_AP_SMPBOOT_THREADS,
	CPUHP_AP_X86_KVM_CLK_ONLINE,
	CPUHP_AP_ACTIVE,
	CPUHP_ONLINE,
};

#endif
"""

X86_OPS = """\
/* SPDX-License-Identifier: GPL-2.0 */
KVM_X86_OP(hardware_enable)
KVM_X86_OP(hardware_disable)
KVM_X86_OP_OPTIONAL(vm_destroy)
"""

KVM_HOST = """\
/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef _ASM_X86_KVM_HOST_H
#define _ASM_X86_KVM_HOST_H

#define KVM_MAX_VCPUS 1024
#define KVM_ARCH_WANT_MMU_NOTIFIER

struct kvm_x86_ops {
	const char *name;
	int (*hardware_enable)(void);
	void (*hardware_disable)(void);
};

#endif
"""

TREE = {
    "Makefile": "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 7\nEXTRAVERSION =\n",
    "virt/kvm/kvm_main.c": KVM_MAIN,
    "arch/x86/kvm/vmx/vmx.c": VMX,
    "include/linux/cpuhotplug.h": CPUHOTPLUG,
    "arch/x86/include/asm/kvm-x86-ops.h": X86_OPS,
    "arch/x86/include/asm/kvm_host.h": KVM_HOST,
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def tiny_baseline(root: Path, files: dict[str, str] | None = None) -> Baseline:
    return extract(write_tree(root, dict(TREE) if files is None else files))


def git_diff(changes: dict[str, tuple[str | None, str | None]], context: int = 3) -> str:
    """A git-style diff of path -> (before, after); None: the file is absent."""
    out: list[str] = []
    for path, (before, after) in changes.items():
        out.append(f"diff --git a/{path} b/{path}\n")
        if before is None:
            out.append("new file mode 100644\n")
        if after is None:
            out.append("deleted file mode 100644\n")
        old = (before or "").splitlines(keepends=True)
        new = (after or "").splitlines(keepends=True)
        out.extend(difflib.unified_diff(
            old, new, "/dev/null" if before is None else f"a/{path}",
            "/dev/null" if after is None else f"b/{path}", n=context))
    return "".join(out)


def file_patches(changes: dict[str, tuple[str | None, str | None]], context: int = 3
                 ) -> tuple[FilePatch, ...]:
    patches, _ = parse_diff(git_diff(changes, context))
    return patches


def structure(unit: FileUnit | None) -> tuple[object, ...]:
    """What a patched file is compared on (parse errors are not tracked)."""
    assert unit is not None
    return (unit.functions, unit.tables, unit.globals, unit.top_calls)
