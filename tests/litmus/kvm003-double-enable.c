// litmus: virtualization enabled at load, then enabled again by VM creation with no per-CPU flag
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM003 KVM004
// prelude: kvm-6.12
// use: decls vendor-ops enable-at-load

static int enable_this_cpu(void)
{
	return kvm_x86_call(enable_virtualization_cpu)();
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
	r = misc_register(&kvm_dev);
	if (r)
		goto err_misc;
	return 0;

err_misc:
	cpuhp_remove_state(CPUHP_AP_KVM_ONLINE);
	return r;
}
module_init(vmx_init);
