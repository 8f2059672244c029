// litmus: the order seed 004's series establishes: the cache sized from tdp_enabled is set up after the vendor's hardware_setup() has configured the MMU
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
// twin: kvm011-consumer-before-hardware-setup
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu offline-cpu create-vm-enables enable-virtualization disable-virtualization

static bool enable_ept = 1;
module_param_named(ept, enable_ept, bool, 0444);

bool tdp_enabled;
static int pte_list_desc_sptes;
static struct kmem_cache *pte_list_desc_cache;

static void kvm_configure_mmu(bool enable_tdp)
{
	tdp_enabled = enable_tdp;
}

static __init int vmx_hardware_setup(void)
{
	kvm_configure_mmu(enable_ept);
	return 0;
}

struct kvm_x86_init_ops vt_init_ops = {
	.hardware_setup = vmx_hardware_setup,
};

static int kvm_mmu_hardware_setup(void)
{
	pte_list_desc_sptes = tdp_enabled ? 2 : 14;
	pte_list_desc_cache = kmem_cache_create("pte_list_desc", pte_list_desc_sptes * 8, 0,
						SLAB_ACCOUNT, NULL);
	if (!pte_list_desc_cache)
		return -ENOMEM;
	return 0;
}

static int kvm_x86_vendor_init(struct kvm_x86_init_ops *ops)
{
	int r;

	r = ops->hardware_setup();
	if (r)
		return r;
	r = kvm_mmu_hardware_setup();
	if (r)
		return r;
	return 0;
}

static int __init vmx_init(void)
{
	int r;

	r = kvm_x86_vendor_init(&vt_init_ops);
	if (r)
		return r;
	return misc_register(&kvm_dev);
}
module_init(vmx_init);
