// litmus: virtualization enabled at load; TDX's cpuhp state is a dynamic one, after KVM's, so a CPU coming online has VMXON before tdx_cpu_enable()
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// cpuhp: CPUHP_AP_ONLINE_DYN ONLINE
// expect: clean
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

static int tdx_online_cpu(unsigned int cpu)
{
	return tdx_cpu_enable();
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

struct kvm *kvm_create_vm(unsigned long type)
{
	struct kvm *kvm = kvm_arch_alloc_vm();

	if (kvm_enable_virtualization())
		return ERR_PTR(-EIO);
	list_add(&kvm->vm_list, &vm_list);
	return kvm;
}

static int __init vt_init(void)
{
	int r;

	r = kvm_enable_virtualization();
	if (r)
		return r;
	cpus_read_lock();
	r = cpuhp_setup_state_cpuslocked(CPUHP_AP_ONLINE_DYN, "kvm/cpu/tdx:online",
					 tdx_online_cpu, NULL);
	if (!r)
		r = tdx_enable();
	cpus_read_unlock();
	if (r)
		return r;
	return misc_register(&kvm_dev);
}
module_init(vt_init);
