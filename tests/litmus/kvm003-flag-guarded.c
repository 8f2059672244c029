// litmus: flag-guarded enable, and VM creation excludes hotplug while it enables
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
// twin: kvm003-flag-no-hotplug-exclusion kvm003-double-enable
// prelude: kvm-6.12
// use: decls vendor-ops enable-this-cpu enable-at-load offline-cpu

struct kvm *kvm_create_vm(unsigned long type)
{
	mutex_lock(&kvm_lock);
	cpus_read_lock();
	on_each_cpu(enable_ipi, NULL, 1);
	cpus_read_unlock();
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
