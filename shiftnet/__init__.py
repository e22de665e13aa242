"""shiftnet: train, evaluate and measure ShiftResNets (Wu et al., CVPR 2018) on modern PyTorch."""

__version__ = "0.1.0"
