// litmus: module init ignores a failed cpuhp_setup_state(): the state was rolled back, /dev/kvm goes live anyway and a VM runs on a CPU with virtualization off
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM001
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu offline-cpu

struct kvm *kvm_create_vm(unsigned long type)
{
	struct kvm *kvm = kvm_arch_alloc_vm();

	mutex_lock(&kvm_lock);
	list_add(&kvm->vm_list, &vm_list);
	mutex_unlock(&kvm_lock);
	return kvm;
}

static int __init vmx_init(void)
{
	int r;

	r = cpuhp_setup_state(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
			      kvm_online_cpu, kvm_offline_cpu);
	r = misc_register(&kvm_dev);
	if (r)
		goto err_misc;
	return 0;

err_misc:
	cpuhp_remove_state(CPUHP_AP_KVM_ONLINE);
	return r;
}
module_init(vmx_init);
