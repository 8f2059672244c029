// litmus: the same enable in an ONLINE callback that returns its failure
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
// twin: kvm001-online-no-enable kvm004-starting-enable
// prelude: kvm-6.1
// use: decls vendor-ops enable-this-cpu disable create-vm

static int kvm_starting_cpu(unsigned int cpu)
{
	int r = 0;

	raw_spin_lock(&kvm_count_lock);
	if (kvm_usage_count)
		r = enable_this_cpu(NULL);
	raw_spin_unlock(&kvm_count_lock);
	return r;
}

static int __init vmx_init(void)
{
	int r;

	r = cpuhp_setup_state_nocalls(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online",
				      kvm_starting_cpu, kvm_dying_cpu);
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
