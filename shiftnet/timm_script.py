"""``python -m shiftnet.timm_script SCRIPT.py [ARGS...]``: run one of timm's own scripts with our models registered.

timm's ``train.py`` and ``validate.py`` live in timm's repository (pip's timm does not ship them) and build a
model with ``timm.create_model(args.model, ...)``; they have no plugin hook, so the names this project
registers (``shiftnet.timm_models``) must be imported first. This runs the script as if it were run directly,
arguments and all, after that import.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

USAGE = ("usage: python -m shiftnet.timm_script SCRIPT.py [ARGS...]\n"
         "  e.g. python -m shiftnet.timm_script validate.py --model shiftresnet20_e1 "
         "--checkpoint run/final.safetensors --dataset torch/cifar10 --data-dir data --split test --device cpu")


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if argv else sys.stderr)
        raise SystemExit(0 if argv else 2)
    if not Path(argv[0]).is_file():
        print(f"error: {argv[0]}: no such script; train.py and validate.py are in timm's repository "
              f"(github.com/huggingface/pytorch-image-models), not in its pip package: give the path to one",
              file=sys.stderr)
        raise SystemExit(2)
    import shiftnet.timm_models  # noqa: F401  (registers our names with timm)

    sys.argv = list(argv)
    runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
