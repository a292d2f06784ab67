"""`fmnist bench`: latency, throughput, memory and accuracy per model file and thread count."""
