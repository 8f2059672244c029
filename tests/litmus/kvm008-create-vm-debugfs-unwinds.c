// litmus: VM creation fails after list_add (debugfs) and unwinds in reverse order: off vm_list, then virtualization usage dropped
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
// failures: 1
static DEFINE_MUTEX(kvm_lock);
static DEFINE_MUTEX(kvm_usage_lock);
static int kvm_usage_count;
static LIST_HEAD(vm_list);
static struct miscdevice kvm_dev;
static DEFINE_PER_CPU(bool, virtualization_enabled);

static int vmx_enable_virtualization_cpu(void)
{
	return 0;
}

static void vmx_disable_virtualization_cpu(void)
{
}

struct kvm_x86_ops vt_x86_ops = {
	.enable_virtualization_cpu = vmx_enable_virtualization_cpu,
	.disable_virtualization_cpu = vmx_disable_virtualization_cpu,
};

static int kvm_online_cpu(unsigned int cpu)
{
	if (__this_cpu_read(virtualization_enabled))
		return 0;
	if (kvm_x86_call(enable_virtualization_cpu)())
		return -EIO;
	__this_cpu_write(virtualization_enabled, true);
	return 0;
}

static int kvm_offline_cpu(unsigned int cpu)
{
	if (!__this_cpu_read(virtualization_enabled))
		return 0;
	kvm_x86_call(disable_virtualization_cpu)();
	__this_cpu_write(virtualization_enabled, false);
	return 0;
}

static int kvm_enable_virtualization(void)
{
	guard(mutex)(&kvm_usage_lock);
	if (kvm_usage_count++)
		return 0;
	if (cpuhp_setup_state(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
			      kvm_online_cpu, kvm_offline_cpu)) {
		--kvm_usage_count;
		return -EIO;
	}
	return 0;
}

static void kvm_disable_virtualization(void)
{
	guard(mutex)(&kvm_usage_lock);
	if (--kvm_usage_count)
		return;
	cpuhp_remove_state(CPUHP_AP_KVM_ONLINE);
}

struct kvm *kvm_create_vm(unsigned long type, const char *fdname)
{
	struct kvm *kvm = kvm_arch_alloc_vm();
	int r;

	r = kvm_enable_virtualization();
	if (r)
		goto out_err_no_disable;
	mutex_lock(&kvm_lock);
	list_add(&kvm->vm_list, &vm_list);
	mutex_unlock(&kvm_lock);
	r = kvm_create_vm_debugfs(kvm, fdname);
	if (r)
		goto out_err_no_debugfs;
	return kvm;

out_err_no_debugfs:
	mutex_lock(&kvm_lock);
	list_del(&kvm->vm_list);
	mutex_unlock(&kvm_lock);
	kvm_disable_virtualization();
out_err_no_disable:
	kvm_arch_free_vm(kvm);
	return ERR_PTR(r);
}

static int __init vmx_init(void)
{
	return misc_register(&kvm_dev);
}
module_init(vmx_init);
