// litmus: TDX init excludes hotplug for all of its setup, but registers the cpuhp state with the plain cpuhp_setup_state_nocalls(), which takes cpus_read_lock() again
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM007
// prelude: kvm-6.12
// use: decls vendor-ops disable-virtualization-cpu tdx-enable create-vm-ipi

static int __init vt_init(void)
{
	int r;

	cpus_read_lock();
	atomic_set(&enable_err, 0);
	on_each_cpu(vmx_tdx_on, NULL, 1);
	r = atomic_read(&enable_err);
	if (!r)
		r = tdx_enable();
	on_each_cpu(kvm_disable_virtualization_cpu, NULL, 1);
	if (!r)
		r = cpuhp_setup_state_nocalls(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
					      kvm_online_cpu, kvm_offline_cpu);
	cpus_read_unlock();
	if (r)
		return -EIO;
	r = misc_register(&kvm_dev);
	if (r)
		goto err_misc;
	return 0;

err_misc:
	cpuhp_remove_state_nocalls(CPUHP_AP_KVM_ONLINE);
	return r;
}
module_init(vt_init);
