// litmus: the 2025 fix: KVM_SET_TSC_KHZ on the VM refuses once a vCPU exists (kvm->created_vcpus, under kvm->lock), so every vCPU runs at the default it was created with
// cpuhp: CPUHP_AP_KVM_ONLINE ONLINE
// expect: clean
// twin: kvm015-default-tsc-set-after-vcpu
// prelude: kvm-6.12
// use: decls vendor-ops online-cpu offline-cpu enable-virtualization disable-virtualization create-vm destroy-vm

static void kvm_set_tsc_khz(struct kvm_vcpu *vcpu, u32 khz)
{
	vcpu->arch.virtual_tsc_khz = khz;
}

static int kvm_arch_vcpu_create(struct kvm_vcpu *vcpu)
{
	kvm_set_tsc_khz(vcpu, vcpu->kvm->arch.default_tsc_khz);
	return 0;
}

static int kvm_vm_ioctl_create_vcpu(struct kvm *kvm, unsigned long id)
{
	struct kvm_vcpu *vcpu = kzalloc(sizeof(*vcpu), GFP_KERNEL);
	int r;

	if (!vcpu)
		return -ENOMEM;
	vcpu->kvm = kvm;
	r = kvm_arch_vcpu_create(vcpu);
	if (r)
		return r;
	mutex_lock(&kvm->lock);
	kvm->created_vcpus++;
	mutex_unlock(&kvm->lock);
	return 0;
}

static long kvm_vm_ioctl(struct file *filp, unsigned int ioctl, unsigned long arg)
{
	struct kvm *kvm = filp->private_data;
	u32 user_tsc_khz;
	int r;

	switch (ioctl) {
	case KVM_CREATE_VCPU:
		r = kvm_vm_ioctl_create_vcpu(kvm, arg);
		break;
	case KVM_SET_TSC_KHZ:
		r = -EINVAL;
		user_tsc_khz = (u32)arg;
		if (user_tsc_khz >= max_guest_tsc_khz)
			break;
		mutex_lock(&kvm->lock);
		if (!kvm->created_vcpus) {
			WRITE_ONCE(kvm->arch.default_tsc_khz, user_tsc_khz);
			r = 0;
		}
		mutex_unlock(&kvm->lock);
		break;
	default:
		r = -ENOTTY;
	}
	return r;
}

static int __init vmx_init(void)
{
	return misc_register(&kvm_dev);
}
module_init(vmx_init);

static void __exit vmx_exit(void)
{
	misc_deregister(&kvm_dev);
}
module_exit(vmx_exit);
