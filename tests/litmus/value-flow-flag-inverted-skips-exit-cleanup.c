// litmus: as its twin, but init stores the setup's result with the wrong polarity (`x_enabled = enable_x && x_setup();`: 0 on success): after a successful setup the flag is false, and exit skips the cleanup, so the dynamic cpuhp state outlives the module (KVM012) and a failed init leaves it behind (KVM008)
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// cpuhp: CPUHP_AP_ONLINE_DYN ONLINE
// expect: KVM008 KVM012
// system: unload
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu offline-cpu create-vm-enables enable-virtualization disable-virtualization

static bool enable_x = true;
module_param_named(x, enable_x, bool, 0444);

static bool x_enabled __ro_after_init;
static int x_state;

static int x_online_cpu(unsigned int cpu)
{
	return 0;
}

static int x_setup(void)
{
	int r;

	r = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "kvm/x:online", x_online_cpu, NULL);
	if (r < 0)
		return r;
	x_state = r;
	return 0;
}

static void x_cleanup(void)
{
	cpuhp_remove_state(x_state);
}

static int __init vmx_init(void)
{
	int r;

	x_enabled = enable_x && x_setup();
	r = misc_register(&kvm_dev);
	if (r)
		goto err_misc;
	return 0;

err_misc:
	if (x_enabled)
		x_cleanup();
	return r;
}
module_init(vmx_init);

static void __exit vmx_exit(void)
{
	misc_deregister(&kvm_dev);
	if (x_enabled)
		x_cleanup();
}
module_exit(vmx_exit);
