"""The PyTorch networks: the two architectures, the training loop, devices, and a trial's weights file."""
