// Mini-KVM in the style of Linux 6.3 (after the kvm_init() rework, before
// kvm_usage_lock), for the litmus scenarios of tests/litmus/: the usage
// count under the mutex kvm_lock, the per-CPU enable __hardware_enable_nolock()
// run by IPI from VM creation and by the ONLINE cpuhp callback
// kvm_online_cpu(), registered by vmx_init() (which a scenario defines).
//
// A scenario takes blocks with `// prelude: kvm-6.3` and `// use: BLOCK ...`;
// a block runs from its `// block:` line to the next one. See
// kvmplan/model/litmus.py.

// block: decls
// the usage count, kvm_lock, the VM list, the per-CPU flag, /dev/kvm
static DEFINE_MUTEX(kvm_lock);
static int kvm_usage_count;
static atomic_t hardware_enable_failed;
static LIST_HEAD(vm_list);
static struct miscdevice kvm_dev;
static DEFINE_PER_CPU(bool, hardware_enabled);

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

// block: enable-nolock
// the flag-guarded per-CPU enable
static int __hardware_enable_nolock(void)
{
	if (__this_cpu_read(hardware_enabled))
		return 0;
	if (static_call(kvm_x86_hardware_enable)())
		return -EIO;
	__this_cpu_write(hardware_enabled, true);
	return 0;
}

// block: enable-nolock-walk
// the flag-guarded per-CPU enable, which then walks vm_list (the TSC fixup's
// clock update)
static int __hardware_enable_nolock(void)
{
	struct kvm *kvm;

	if (__this_cpu_read(hardware_enabled))
		return 0;
	if (static_call(kvm_x86_hardware_enable)())
		return -EIO;
	__this_cpu_write(hardware_enabled, true);
	list_for_each_entry(kvm, &vm_list, vm_list)
		kvm_make_all_cpus_request(kvm, KVM_REQ_CLOCK_UPDATE);
	return 0;
}

// block: hardware-nolock
// the IPI callbacks: the enable counting a failure, the flag-guarded disable
static void hardware_enable_nolock(void *junk)
{
	if (__hardware_enable_nolock())
		atomic_inc(&hardware_enable_failed);
}

static void hardware_disable_nolock(void *junk)
{
	if (!__this_cpu_read(hardware_enabled))
		return;
	static_call(kvm_x86_hardware_disable)();
	__this_cpu_write(hardware_enabled, false);
}

// block: online-cpu
// the ONLINE callback: enables under kvm_lock when a VM exists
static int kvm_online_cpu(unsigned int cpu)
{
	int ret = 0;

	mutex_lock(&kvm_lock);
	if (kvm_usage_count)
		ret = __hardware_enable_nolock();
	mutex_unlock(&kvm_lock);
	return ret;
}

// block: offline-cpu
// the ONLINE section's teardown: disables under kvm_lock when a VM exists
static int kvm_offline_cpu(unsigned int cpu)
{
	mutex_lock(&kvm_lock);
	if (kvm_usage_count)
		hardware_disable_nolock(NULL);
	mutex_unlock(&kvm_lock);
	return 0;
}

// block: create-vm
// the first VM enables every online CPU by IPI under cpus_read_lock() then
// kvm_lock, and joins vm_list under both
struct kvm *kvm_create_vm(unsigned long type)
{
	int r = 0;

	cpus_read_lock();
	mutex_lock(&kvm_lock);
	kvm_usage_count++;
	if (kvm_usage_count == 1) {
		atomic_set(&hardware_enable_failed, 0);
		on_each_cpu(hardware_enable_nolock, NULL, 1);
		if (atomic_read(&hardware_enable_failed)) {
			kvm_usage_count--;
			on_each_cpu(hardware_disable_nolock, NULL, 1);
			r = -EBUSY;
		}
	}
	if (!r)
		list_add(&kvm->vm_list, &vm_list);
	mutex_unlock(&kvm_lock);
	cpus_read_unlock();
	if (r)
		return ERR_PTR(r);
	return kvm;
}

// block: create-vm-late-add
// as create-vm, but the VM joins vm_list under kvm_lock alone, after
// cpus_read_unlock()
struct kvm *kvm_create_vm(unsigned long type)
{
	struct kvm *kvm = kvm_arch_alloc_vm();
	int r = 0;

	cpus_read_lock();
	mutex_lock(&kvm_lock);
	kvm_usage_count++;
	if (kvm_usage_count == 1) {
		atomic_set(&hardware_enable_failed, 0);
		on_each_cpu(hardware_enable_nolock, NULL, 1);
		if (atomic_read(&hardware_enable_failed)) {
			kvm_usage_count--;
			on_each_cpu(hardware_disable_nolock, NULL, 1);
			r = -EBUSY;
		}
	}
	mutex_unlock(&kvm_lock);
	cpus_read_unlock();
	if (r)
		return ERR_PTR(r);
	mutex_lock(&kvm_lock);
	list_add(&kvm->vm_list, &vm_list);
	mutex_unlock(&kvm_lock);
	return kvm;
}
