"""kvmplan: review KVM patch series against an executable model of KVM's
hardware-virtualization lifecycle."""

__version__ = "0.1.0"
