// litmus: the ONLINE callback takes kvm_lock under the hotplug lock, and VM creation takes cpus_read_lock() before kvm_lock: one order everywhere
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
// twin: kvm007-kvm-lock-then-hotplug-lock
// prelude: kvm-6.3
// use: decls vendor-ops enable-nolock hardware-nolock online-cpu offline-cpu

struct kvm *kvm_create_vm(unsigned long type)
{
	int r = 0;

	cpus_read_lock();
	mutex_lock(&kvm_lock);
	kvm_usage_count++;
	if (kvm_usage_count == 1) {
		atomic_set(&hardware_enable_failed, 0);
		on_each_cpu(hardware_enable_nolock, NULL, 1);
		if (atomic_read(&hardware_enable_failed)) {
			kvm_usage_count--;
			on_each_cpu(hardware_disable_nolock, NULL, 1);
			r = -EBUSY;
		}
	}
	if (!r)
		list_add(&kvm->vm_list, &vm_list);
	mutex_unlock(&kvm_lock);
	cpus_read_unlock();
	if (r)
		return ERR_PTR(r);
	return kvm;
}

static int __init vmx_init(void)
{
	int r;

	r = cpuhp_setup_state_nocalls(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
				      kvm_online_cpu, kvm_offline_cpu);
	if (r)
		return r;
	r = misc_register(&kvm_dev);
	if (r)
		goto err_misc;
	return 0;

err_misc:
	cpuhp_remove_state_nocalls(CPUHP_AP_KVM_ONLINE);
	return r;
}
module_init(vmx_init);
