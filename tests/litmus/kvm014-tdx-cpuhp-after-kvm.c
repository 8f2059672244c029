// litmus: virtualization enabled at load; TDX's cpuhp state is a dynamic one, after KVM's, so a CPU coming online has VMXON before tdx_cpu_enable()
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// cpuhp: CPUHP_AP_ONLINE_DYN ONLINE
// expect: clean
// twin: kvm014-tdx-cpuhp-before-kvm
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
