// litmus: the ONLINE callback's enable walks vm_list (TSC fixup) under kvm_lock, the lock VM creation adds to vm_list under
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
// twin: kvm006-online-walk-unlocked
// prelude: kvm-6.3
// use: decls vendor-ops enable-nolock-walk hardware-nolock offline-cpu create-vm-late-add

static int kvm_online_cpu(unsigned int cpu)
{
	int ret = 0;

	mutex_lock(&kvm_lock);
	if (kvm_usage_count)
		ret = __hardware_enable_nolock();
	mutex_unlock(&kvm_lock);
	return ret;
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
