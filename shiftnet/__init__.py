"""shiftnet: train, evaluate and measure ShiftResNets (Wu et al., CVPR 2018) on modern PyTorch."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``shiftnet.load_model`` and ``shiftnet.create_model`` without importing torch for ``import shiftnet``
    (the CLI's --help stays fast)."""
    if name in ("load_model", "create_model"):
        from . import loading

        return getattr(loading, name)
    raise AttributeError(f"module 'shiftnet' has no attribute {name!r}")
