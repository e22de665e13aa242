"""Write shiftnet/presets/<dataset>/*.yaml: one preset per row of the seed README's tables.

Run from the repository root: python scripts/make_presets.py. tests/test_presets.py checks that the
committed files are exactly what this prints, so the presets cannot drift from shiftnet.published.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shiftnet.presets.rows import preset_rows  # noqa: E402


def render(preset: dict) -> str:
    lines = [f"# {preset['comment']}", "extends: ../seed.yaml", "model:"]
    for key, value in preset["model"].items():
        lines.append(f"  {key}: {value}")
    lines += ["data:", f"  dataset: {preset['dataset']}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    for preset in preset_rows():
        path = REPO / "shiftnet" / "presets" / preset["dataset"] / f"{preset['name']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(preset))
        print(path.relative_to(REPO))


if __name__ == "__main__":
    main()
