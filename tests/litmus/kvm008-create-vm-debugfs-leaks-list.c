// litmus: VM creation fails after list_add (debugfs, as in 6.0-rc1) and the error path drops the usage but never takes the VM off vm_list
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM008 KVM001
// failures: 1
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu offline-cpu enable-virtualization disable-virtualization

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
