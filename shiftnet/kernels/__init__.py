"""The shift op: ``shift`` / ``Shift`` (dispatching op), plus the channel map they share."""

from ..enums import FIXED_SHIFT_IMPLS, SHIFT_IMPLS
from .mapping import channel_offsets, shifted_channels
from .op import Shift, shift

__all__ = ["FIXED_SHIFT_IMPLS", "SHIFT_IMPLS", "Shift", "channel_offsets", "shift", "shifted_channels"]
