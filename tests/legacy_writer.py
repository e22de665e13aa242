"""Original-format ``.t7`` files written by torch itself, their historical variants, and an oracle.

The seed saved ``{'net': <module>, 'acc', 'epoch'}`` with torch's legacy ``torch.save``. To test the
reader against that format rather than against our idea of it, ``make_suite`` writes every ``.t7``
file the suite reads (``SUITE``) in one process with the stand-in of the seed's code base importable
(``legacy_package``):

1. builds the models with the stand-in and saves them with ``torch.save(obj, f,
   _use_new_zipfile_serialization=False, pickle_protocol=2)``, as the seed's ``main.py`` did;
2. rewrites some into what this machine cannot write (``legacy_stream.rewrite``): a GPU's, Python 2's,
   PyTorch 0.3's;
3. loads every file the way the seed did (the oracle): plain ``torch.load(weights_only=False)``, the
   model on fixed random inputs and, given the extracted CIFAR-10, on the first real test images with
   the seed's test transform from torchvision.

Run as a script it is that process; it imports nothing from shiftnet. One process, because starting
one (torch's import) costs more than all it does.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

if __package__:
    from .legacy_package import SEED_MEAN, SEED_STD, write_package
    from .legacy_stream import rewrite
else:  # the script: its folder is on sys.path
    from legacy_package import SEED_MEAN, SEED_STD, write_package
    from legacy_stream import rewrite

ANCHOR = "shiftresnet20_3.0.t7"
# Every file: path -> (what the stand-in builds, None for the anchor's bytes; rewrite()'s keywords or None).
# Built files get depth 20, 10 classes, seed i, acc 80 + i and epoch 100 + i (i: their place here) unless
# they say otherwise.
SUITE = {
    "shiftresnet20_3.0.t7": ({"arch": "shiftresnet", "param": 3.0}, None),
    "shiftresnet20_3.0-cuda.t7": (None, dict(cuda=True)),
    "shiftresnet20_3.0-py2.t7": (None, dict(py2=True)),
    "shiftresnet20_3.0-torch03.t7": (None, dict(torch03=True)),
    "shiftresnet20_1.0-dataparallel.t7": ({"arch": "shiftresnet", "param": 1.0, "data_parallel": True},
                                          dict(cuda=True)),
    "shiftresnet20_1.0-2017.t7": ({"arch": "shiftresnet", "param": 1.0, "old_paths": True},
                                  dict(cuda=True, py2=True, torch03=True)),
    "shiftresnet20_1.0_cifar100.t7": ({"arch": "shiftresnet", "param": 1.0, "classes": 100}, None),
    "resnet20.t7": ({"arch": "resnet"}, None),
    "resnet20_2.8_block.t7": ({"arch": "resnet", "param": 2.8}, None),
    "resnet20_2.9_net.t7": ({"arch": "resnet", "param": 2.9, "mode": "net"}, None),
    "resnet20_3.3-2017.t7": ({"arch": "resnet", "param": 3.3, "old_rule": True},
                             dict(cuda=True, py2=True, torch03=True)),
    "depthwiseresnet20.t7": ({"arch": "depthwiseresnet", "param": 1.0}, None),
    "resnet20_1.12_depthwisewithskip.t7": ({"arch": "depthwiseresnet", "param": 1.12, "old_paths": True},
                                           dict(cuda=True, py2=True, torch03=True)),
    # test_pretrained.py's registry archives: small nets whose names say another data set than their heads
    "small/shiftresnet20_1.0_cifar100.t7": ({"arch": "shiftresnet", "depth": 8, "param": 1.0, "classes": 10}, None),
    "small/resnet20.t7": ({"arch": "resnet", "depth": 8, "classes": 100}, None),
}


def make_suite(root: Path, cifar_root: Path | None = None, count: int = 0, timeout: int = 300) -> dict:
    """Writes the stand-in package and every file of ``SUITE`` under ``root``, and reads them back with
    torch (on the first ``count`` real test images too, given the extracted CIFAR-10 under ``cifar_root``).
    Returns {"files": folder, "package", "anchor": its bytes, "oracle": per file of SUITE, torch's reading
    ({"state", "acc", "epoch", "classes", "logits", "predictions", "correct"}), with "inputs", "cifar"}."""
    package, files = write_package(root / "seed"), root / "files"
    (files / "small").mkdir(parents=True)
    built = [{"file": name, "depth": 20, "classes": 10, "seed": i, "acc": 80.0 + i, "epoch": 100 + i, **build}
             for i, (name, (build, _)) in enumerate(SUITE.items()) if build is not None]
    rewrites = [(name, build is None, edits) for name, (build, edits) in SUITE.items() if edits]
    job = root / "job.json"
    job.write_text(json.dumps({"out_dir": str(files), "built": built, "anchor": ANCHOR, "rewrites": rewrites,
                               "oracle": str(root / "oracle.pt"), "cifar": cifar_root and str(cifar_root),
                               "count": count}))
    env = {**os.environ, "PYTHONPATH": str(package), "OMP_NUM_THREADS": "1"}  # the suite shares 2 cores
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(job)], cwd=package,
                            capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"legacy_writer failed:\n{result.stderr[-3000:]}")
    import torch

    return {"files": files, "package": package, "anchor": (files / ANCHOR).read_bytes(), "cifar": cifar_root,
            "oracle": torch.load(root / "oracle.pt", weights_only=True)}


# --------------------------------------------------------------------------- the script


def _calibration_images(cifar_root: str | None):
    import torch

    torch.manual_seed(0)
    if cifar_root is None:
        return torch.randn(128, 3, 32, 32)
    batch = pickle.loads((Path(cifar_root) / "cifar-10-batches-py" / "test_batch").read_bytes(), encoding="latin1")
    images = torch.tensor(batch["data"][:128]).view(-1, 3, 32, 32).float() / 255
    return (images - torch.tensor(SEED_MEAN).view(1, 3, 1, 1)) / torch.tensor(SEED_STD).view(1, 3, 1, 1)


def _build_model(fx: dict, images):
    import torch
    from models import depthwiseresnet, resnet, shiftresnet
    from models.shiftnet_cuda_v2 import nn as shift_nn
    from shiftnet_cuda_v2 import nn as old_shift_nn

    n, param, arch = (fx["depth"] - 2) // 6, fx.get("param"), fx["arch"]
    if arch == "shiftresnet":
        if fx.get("old_paths"):  # Nov 2017: ShiftConv in models/resnet.py, the shift package at top level
            conv, shift = resnet.ShiftConv, old_shift_nn.GenericShift_cuda
        else:
            conv, shift = shiftresnet.ShiftConv, shift_nn.GenericShift_cuda
        def block(i, o, s):
            return conv(i, o, s, expansion=param, shift_class=shift)
        net = resnet.ResNet(block, [n] * 3, num_classes=fx["classes"])
    elif arch == "depthwiseresnet":  # before 2018-03-28: --arch resnetN --reduction-mode depthwisewithskip
        block_class = (resnet if fx.get("old_paths") else depthwiseresnet).DepthWiseWithSkipBlock
        net = resnet.ResNet(lambda i, o, s: block_class(i, o, s, reduction=param), [n] * 3, num_classes=fx["classes"])
    elif fx.get("mode") == "net":
        net = resnet.ResNet(resnet.BasicBlock, [n] * 3, reduction=param, num_classes=fx["classes"])
    else:
        def block(i, o, s):
            return resnet.BasicBlock(i, o, s, reduction=param or 1, old_rule=fx.get("old_rule", False))
        net = resnet.ResNet(block, [n] * 3, num_classes=fx["classes"])
    torch.manual_seed(fx.get("seed", 0))
    batch_norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for module in batch_norms:  # affine parameters and statistics unlike the defaults: a wrong mapping shows
        module.weight.data.uniform_(0.5, 1.5)
        module.bias.data.uniform_(-0.1, 0.1)
        module.reset_running_stats()
        module.momentum = None  # one pass sets the statistics of the calibration images
    features = []
    hook = net.linear.register_forward_hook(lambda _m, args, _out: features.append(args[0]))
    with torch.no_grad():
        net.train()(images)
        # centre the logits over the images, so that the class is decided by what differs between them
        net.linear.bias.copy_(-net.linear.weight @ features[-1].mean(0))
        net.eval()(images[:2])  # as after the seed's test pass: int_nchw & co. are torch.Size attributes
    hook.remove()
    for module in batch_norms:
        module.momentum = 0.1
        module.num_batches_tracked.fill_(391 * 120)
    return net


def _build(out_dir: Path, fixtures: list[dict], cifar_root: str | None) -> None:
    """Each fixture ({"file", "arch", "depth", "param", "mode", "classes", "old_paths", "old_rule",
    "data_parallel", "seed", "acc", "epoch"}) as the seed's main.py saved its best checkpoint. With the
    extracted CIFAR-10, BatchNorm statistics are taken on real test images, so the untrained nets answer
    differently for different images (a constant answer would agree with any reader)."""
    import torch

    images = _calibration_images(cifar_root)
    for fx in fixtures:
        net = _build_model(fx, images)
        if fx.get("data_parallel"):  # a wrapper pickled on a GPU machine (the seed's PR #4 era)
            net = torch.nn.DataParallel(net)
            net.device_ids, net.output_device, net.dim = [0], 0, 0
            net.src_device_obj = torch.device("cuda", 0)
        with open(out_dir / fx["file"], "wb") as handle:
            torch.save({"net": net, "acc": fx.get("acc", 91.5), "epoch": fx.get("epoch", 120)}, handle,
                       _use_new_zipfile_serialization=False, pickle_protocol=2)


def _oracle(out: str, files: Path, names: list[str], cifar: str | None, count: int) -> None:
    """torch's own reading of each file: per name, the state dict, 'acc'/'epoch', the module classes,
    logits on fixed random inputs (saved as 'inputs') and predictions and correct count on the first
    ``count`` real test images."""
    import torch

    torch.manual_seed(0)
    inputs = torch.randn(4, 3, 32, 32)
    batches = []
    if cifar is not None:
        import torchvision
        from torchvision import transforms

        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(SEED_MEAN, SEED_STD)])
        test = torchvision.datasets.CIFAR10(cifar, train=False, download=False, transform=transform)
        subset = torch.utils.data.Subset(test, range(count))
        batches = list(torch.utils.data.DataLoader(subset, batch_size=100, shuffle=False))
    results = {"inputs": inputs}
    for name in names:
        checkpoint = torch.load(files / name, map_location="cpu", weights_only=False, encoding="latin1")
        net = checkpoint["net"]
        if isinstance(net, torch.nn.DataParallel):
            net = net.module
        net.eval()
        row = {"state": net.state_dict(), "acc": float(checkpoint["acc"]), "epoch": int(checkpoint["epoch"]),
               "classes": sorted({f"{type(m).__module__}.{type(m).__name__}" for m in net.modules()})}
        with torch.no_grad():
            row["logits"] = net(inputs)
            if batches:
                predictions = torch.cat([net(images).argmax(1) for images, _ in batches])
                labels = torch.cat([labels for _, labels in batches])
                row["predictions"], row["correct"] = predictions, int((predictions == labels).sum())
        results[name] = row
    torch.save(results, out)


def _main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    files = Path(job["out_dir"])
    _build(files, job["built"], job["cifar"])
    anchor = (files / job["anchor"]).read_bytes()
    for name, from_anchor, edits in job["rewrites"]:
        (files / name).write_bytes(rewrite(anchor if from_anchor else (files / name).read_bytes(), **edits))
    _oracle(job["oracle"], files, [name for name in SUITE], job["cifar"], job["count"])


if __name__ == "__main__":
    _main(sys.argv[1])
