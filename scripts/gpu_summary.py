"""Print the short table that ends scripts/gpu_check.sh, from the JSON files it left in OUT."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(out: Path) -> None:
    tests = (out / "pytest_cuda.log")
    if tests.exists():
        lines = [line for line in tests.read_text().splitlines() if " passed" in line or " failed" in line]
        print("cuda tests:", lines[-1] if lines else "no summary line (see pytest_cuda.log)")
    shift_file = out / "bench_shift.json"
    if shift_file.exists() and shift_file.stat().st_size:
        data = json.loads(shift_file.read_text())
        print(data["machine"])
        rows = data["rows"]
        print(f"{'shape':<16}{'dtype':<10}{'MB':>7}{'cupy fwd %clone':>17}{'cupy f+b %clone':>17}{'vs torch':>10}{'vs conv':>11}")
        groups: dict = {}
        for row in rows:
            groups.setdefault((tuple(row["shape"]), row["dtype"]), {})[row["impl"]] = row
        for (shape, dtype), impls in groups.items():
            if "cupy" not in impls or "clone" not in impls:
                continue
            cupy, clone = impls["cupy"], impls["clone"]
            megabytes = cupy["fwd_gbps"] * cupy["fwd_ms"] / 2  # bytes moved = 2 x tensor size
            torch_ratio = impls["torch"]["fwdbwd_ms"] / cupy["fwdbwd_ms"] if "torch" in impls else float("nan")
            dw_ratio = impls["conv"]["fwdbwd_ms"] / cupy["fwdbwd_ms"] if "conv" in impls else float("nan")
            print(f"{'x'.join(map(str, shape)):<16}{dtype:<10}{megabytes:>7.1f}{100 * clone['fwd_ms'] / cupy['fwd_ms']:>16.0f}%"
                  f"{100 * clone['fwdbwd_ms'] / cupy['fwdbwd_ms']:>16.0f}%{torch_ratio:>9.1f}x{dw_ratio:>10.1f}x")
    train_file = out / "bench_train.json"
    if train_file.exists() and train_file.stat().st_size:
        rows = json.loads(train_file.read_text())
        rows = rows.get("rows", rows) if isinstance(rows, dict) else rows
        for row in rows:
            print(f"train {row['model']:<24} bs {row['batch_size']:<5} {row['train_images_per_s']:>10.0f} img/s train"
                  f" {row['eval_images_per_s']:>10.0f} img/s eval  epoch ~{50000 / row['train_images_per_s']:.1f} s"
                  f" (164 epochs ~{164 * 50000 / row['train_images_per_s'] / 60:.1f} min, loader excluded)")
    loader_file = out / "bench_loader.json"
    if loader_file.exists() and loader_file.stat().st_size:
        loader = json.loads(loader_file.read_text())
        print(f"loader {loader['loader_images_per_s']:.0f} img/s on {loader['device']} = {loader['ratio']:.1f}x {loader['model']} training")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/shiftnet-gpu"))
