// litmus: syscore .suspend turns virtualization off on the boot CPU but there is no .resume: the boot CPU comes back from suspend without VMX while a VM exists
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM010 KVM001
// system: suspend
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

static int kvm_suspend(void)
{
	kvm_offline_cpu(0);
	return 0;
}

static struct syscore_ops kvm_syscore_ops = {
	.suspend = kvm_suspend,
};

struct kvm *kvm_create_vm(unsigned long type)
{
	struct kvm *kvm = kvm_arch_alloc_vm();

	mutex_lock(&kvm_usage_lock);
	if (kvm_usage_count++ == 0 &&
	    cpuhp_setup_state(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
			      kvm_online_cpu, kvm_offline_cpu)) {
		--kvm_usage_count;
		mutex_unlock(&kvm_usage_lock);
		return ERR_PTR(-EIO);
	}
	if (kvm_usage_count == 1)
		register_syscore_ops(&kvm_syscore_ops);
	mutex_unlock(&kvm_usage_lock);
	mutex_lock(&kvm_lock);
	list_add(&kvm->vm_list, &vm_list);
	mutex_unlock(&kvm_lock);
	return kvm;
}

static void kvm_destroy_vm(struct kvm *kvm)
{
	mutex_lock(&kvm_lock);
	list_del(&kvm->vm_list);
	mutex_unlock(&kvm_lock);
	mutex_lock(&kvm_usage_lock);
	if (--kvm_usage_count == 0) {
		unregister_syscore_ops(&kvm_syscore_ops);
		cpuhp_remove_state(CPUHP_AP_KVM_ONLINE);
	}
	mutex_unlock(&kvm_usage_lock);
}

static int __init vmx_init(void)
{
	return misc_register(&kvm_dev);
}
module_init(vmx_init);
