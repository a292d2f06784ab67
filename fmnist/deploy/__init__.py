"""Taking a model to a device: `fmnist bench` (latency, throughput, memory, side by side) and `fmnist bundle`
(a folder and .tar.gz for a Raspberry Pi)."""
