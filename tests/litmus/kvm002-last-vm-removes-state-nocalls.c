// litmus: the last VM's destruction removes the cpuhp state with cpuhp_remove_state_nocalls(): no teardown runs, so virtualization stays on with kvm_usage_count 0
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM002
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu offline-cpu create-vm

static void kvm_destroy_vm(struct kvm *kvm)
{
	mutex_lock(&kvm_lock);
	list_del(&kvm->vm_list);
	mutex_unlock(&kvm_lock);
	mutex_lock(&kvm_usage_lock);
	if (--kvm_usage_count == 0)
		cpuhp_remove_state_nocalls(CPUHP_AP_KVM_ONLINE);
	mutex_unlock(&kvm_usage_lock);
}

static int __init vmx_init(void)
{
	return misc_register(&kvm_dev);
}
module_init(vmx_init);
