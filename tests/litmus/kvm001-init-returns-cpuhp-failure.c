// litmus: module init returns cpuhp_setup_state()'s failure (`if (r < 0) return r;`): an error is a negative number, so the path of the failed call ends there and the module is gone
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
// twin: kvm001-init-ignores-cpuhp-failure
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
	if (r < 0)
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
