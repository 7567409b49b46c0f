"""CIFAR-10 study: a baseline CNN to SE-ResNet-18, trained by one engine and wired as a DVC pipeline."""
