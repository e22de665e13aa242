"""``python -m shiftnet`` (what ``torchrun -m shiftnet train`` runs)."""

from shiftnet.cli import main

main()
