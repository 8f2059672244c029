// litmus: virtualization enabled at load, then enabled again by VM creation with no per-CPU flag
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM003 KVM004
static DEFINE_MUTEX(kvm_lock);
static LIST_HEAD(vm_list);
static struct miscdevice kvm_dev;

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

static int enable_this_cpu(void)
{
	return kvm_x86_call(enable_virtualization_cpu)();
}

static void enable_ipi(void *ign)
{
	enable_this_cpu();
}

static int kvm_online_cpu(unsigned int cpu)
{
	return enable_this_cpu();
}

static int kvm_offline_cpu(unsigned int cpu)
{
	kvm_x86_call(disable_virtualization_cpu)();
	return 0;
}

struct kvm *kvm_create_vm(unsigned long type)
{
	mutex_lock(&kvm_lock);
	on_each_cpu(enable_ipi, NULL, 1);
	list_add(&kvm->vm_list, &vm_list);
	mutex_unlock(&kvm_lock);
	return kvm;
}

static int __init vmx_init(void)
{
	int r;

	r = cpuhp_setup_state(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
			      kvm_online_cpu, kvm_offline_cpu);
	if (r)
		return r;
	return misc_register(&kvm_dev);
}
module_init(vmx_init);
