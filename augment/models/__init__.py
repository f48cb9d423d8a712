"""Pure PyTorch models: nothing in this package imports Ray."""
