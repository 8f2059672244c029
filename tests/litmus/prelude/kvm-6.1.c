// Mini-KVM in the style of Linux 6.1 (kvm_main.c's hardware_enable_all() era),
// for the litmus scenarios of tests/litmus/: the usage count under the
// raw spinlock kvm_count_lock, the per-CPU enable run by on_each_cpu() from
// VM creation and by the cpuhp callback kvm_starting_cpu() (which a scenario
// defines, with its vmx_init()).
//
// A scenario takes blocks with `// prelude: kvm-6.1` and `// use: BLOCK ...`;
// a block runs from its `// block:` line to the next one. See
// kvmplan/model/litmus.py.

// block: decls
// the usage count, its lock, the VM list, the per-CPU flag, /dev/kvm
static DEFINE_RAW_SPINLOCK(kvm_count_lock);
static int kvm_usage_count;
static atomic_t hardware_enable_failed;
static LIST_HEAD(vm_list);
static DEFINE_PER_CPU(bool, hardware_enabled);
static struct miscdevice kvm_dev;

// block: vendor-ops
// VMX's enable/disable, bound in kvm_x86_ops (static_call(kvm_x86_hardware_*))
static int vmx_hardware_enable(void)
{
	return 0;
}

static void vmx_hardware_disable(void)
{
}

struct kvm_x86_ops vmx_x86_ops = {
	.hardware_enable = vmx_hardware_enable,
	.hardware_disable = vmx_hardware_disable,
};

// block: enable-this-cpu
// the flag-guarded per-CPU enable; counts a failure in hardware_enable_failed
static int enable_this_cpu(void *ign)
{
	if (__this_cpu_read(hardware_enabled))
		return 0;
	if (static_call(kvm_x86_hardware_enable)()) {
		atomic_inc(&hardware_enable_failed);
		return -EIO;
	}
	__this_cpu_write(hardware_enabled, true);
	return 0;
}

// block: disable
// the flag-guarded per-CPU disable, and the cpuhp teardown kvm_dying_cpu()
static void disable_this_cpu(void *ign)
{
	if (!__this_cpu_read(hardware_enabled))
		return;
	static_call(kvm_x86_hardware_disable)();
	__this_cpu_write(hardware_enabled, false);
}

static int kvm_dying_cpu(unsigned int cpu)
{
	raw_spin_lock(&kvm_count_lock);
	if (kvm_usage_count)
		disable_this_cpu(NULL);
	raw_spin_unlock(&kvm_count_lock);
	return 0;
}

// block: create-vm
// the first VM enables every online CPU by IPI, hotplug excluded; undoes on
// failure
struct kvm *kvm_create_vm(unsigned long type)
{
	cpus_read_lock();
	raw_spin_lock(&kvm_count_lock);
	kvm_usage_count++;
	if (kvm_usage_count == 1) {
		atomic_set(&hardware_enable_failed, 0);
		on_each_cpu(enable_this_cpu, NULL, 1);
		if (atomic_read(&hardware_enable_failed)) {
			kvm_usage_count--;
			on_each_cpu(disable_this_cpu, NULL, 1);
			raw_spin_unlock(&kvm_count_lock);
			cpus_read_unlock();
			return ERR_PTR(-EBUSY);
		}
	}
	raw_spin_unlock(&kvm_count_lock);
	cpus_read_unlock();
	list_add(&kvm->vm_list, &vm_list);
	return kvm;
}
