// litmus: module exit deregisters /dev/kvm, removes TDX's cpuhp state and drops the load-time virtualization usage
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// cpuhp: CPUHP_AP_ONLINE_DYN ONLINE
// expect: clean
// system: unload
// twin: kvm012-exit-leaves-tdx-state
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu offline-cpu tdx-cpuhp enable-virtualization disable-virtualization create-vm-enables

static int __init vt_init(void)
{
	int r;

	r = kvm_enable_virtualization();
	if (r)
		return r;
	cpus_read_lock();
	r = cpuhp_setup_state_cpuslocked(CPUHP_AP_ONLINE_DYN, "kvm/cpu/tdx:online",
					 tdx_online_cpu, NULL);
	if (!r)
		r = tdx_enable();
	cpus_read_unlock();
	if (r)
		return r;
	r = misc_register(&kvm_dev);
	if (r)
		goto err_misc;
	return 0;

err_misc:
	cpuhp_remove_state(CPUHP_AP_ONLINE_DYN);
	kvm_disable_virtualization();
	return r;
}
module_init(vt_init);

static void __exit vt_exit(void)
{
	misc_deregister(&kvm_dev);
	cpuhp_remove_state(CPUHP_AP_ONLINE_DYN);
	kvm_disable_virtualization();
}
module_exit(vt_exit);
