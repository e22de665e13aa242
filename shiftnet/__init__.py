"""shiftnet: train, evaluate and measure ShiftResNets (Wu et al., CVPR 2018) on modern PyTorch."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``shiftnet.load_model`` without importing torch for ``import shiftnet`` (the CLI's --help stays fast)."""
    if name == "load_model":
        from .loading import load_model

        return load_model
    raise AttributeError(f"module 'shiftnet' has no attribute {name!r}")
