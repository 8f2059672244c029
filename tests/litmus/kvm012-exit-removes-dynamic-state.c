// litmus: module init sets up a dynamic cpuhp state (CPUHP_AP_ONLINE_DYN) and keeps the number it returns; the error path and module exit remove the state through that number
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// cpuhp: CPUHP_AP_ONLINE_DYN ONLINE
// expect: clean
// system: unload
// twin: kvm012-exit-leaves-dynamic-state
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu offline-cpu create-vm-enables enable-virtualization disable-virtualization

static int kvm_dyn_state;

static int kvm_x86_online_cpu(unsigned int cpu)
{
	mutex_lock(&kvm_lock);
	mutex_unlock(&kvm_lock);
	return 0;
}

static int __init vmx_init(void)
{
	int r;

	r = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "kvm/x86:online", kvm_x86_online_cpu,
			      NULL);
	if (r < 0)
		return r;
	kvm_dyn_state = r;
	r = misc_register(&kvm_dev);
	if (r)
		goto err_misc;
	return 0;

err_misc:
	cpuhp_remove_state(kvm_dyn_state);
	return r;
}
module_init(vmx_init);

static void __exit vmx_exit(void)
{
	misc_deregister(&kvm_dev);
	cpuhp_remove_state(kvm_dyn_state);
}
module_exit(vmx_exit);
