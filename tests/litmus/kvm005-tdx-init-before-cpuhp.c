// litmus: TDX per-CPU init (VMXON + tdx_cpu_enable) over the online CPUs before the cpuhp state that covers CPUs onlined later is registered, hotplug not excluded (the race found in review of the TDX series)
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: KVM002 KVM005 KVM014
// prelude: kvm-6.12
// use: decls vendor-ops disable-virtualization-cpu tdx-enable create-vm-ipi

static int __init vt_init(void)
{
	int r;

	atomic_set(&enable_err, 0);
	on_each_cpu(vmx_tdx_on, NULL, 1);
	r = atomic_read(&enable_err);
	if (!r)
		r = tdx_enable();
	on_each_cpu(kvm_disable_virtualization_cpu, NULL, 1);
	if (!r)
		r = cpuhp_setup_state_nocalls(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
					      kvm_online_cpu, kvm_offline_cpu);
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
