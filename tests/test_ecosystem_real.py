"""A run's weights leave shiftnet and keep their accuracy: torch.hub, timm (with timm's own data pipeline)
and the exported ONNX file score the same 1,000 real CIFAR-10 test images as ``shiftnet eval`` does.

The oracle for the images is torchvision's ``CIFAR10`` reader (its own md5 checks, its own decoding), not
our loader; the oracle for the predictions is ``shiftnet eval --predictions`` over the whole test set.
The run itself is real (``real_run`` in conftest.py): 30 SGD steps of ShiftResNet20 a = c on the real
training set, far above chance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from shiftnet.cli import app

from .conftest import stderr_of

REPO = Path(__file__).resolve().parents[1]
IMAGES = 1000
runner = CliRunner()


def _torchvision_test_images(data: Path, transform):
    """The first IMAGES test images and labels as torchvision reads them (md5-checked official files)."""
    from torchvision.datasets import CIFAR10

    dataset = CIFAR10(str(data), train=False, download=False, transform=transform)
    images, labels = zip(*(dataset[i] for i in range(IMAGES)))
    return torch.stack(images), torch.tensor(labels)


def _predictions(model, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(images).argmax(1)


def _check_against_eval(predicted: torch.Tensor, labels: torch.Tensor, row: dict) -> float:
    assert predicted.tolist() == row["predictions"][:IMAGES]
    accuracy = (predicted == labels).float().mean().item() * 100
    assert accuracy > 20.0, accuracy  # 30 steps of SGD: far above chance (10%), so agreement means something
    return accuracy


@pytest.mark.realdata
def test_hub_model_scores_the_runs_predictions_on_real_images(real_run):
    from torchvision import transforms

    data, out, row = real_run.data, real_run.out, real_run.row
    model = torch.hub.load(str(REPO), "shiftresnet20", source="local", expansion=1,
                           checkpoint_path=str(out / "final.safetensors"), trust_repo=True)
    cfg = model.pretrained_cfg
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(cfg["mean"], cfg["std"])])
    images, labels = _torchvision_test_images(data, transform)
    _check_against_eval(_predictions(model, images), labels, row)


@pytest.mark.realdata
def test_timm_model_with_timms_data_pipeline_scores_the_runs_predictions(real_run):
    timm = pytest.importorskip("timm")
    from timm.data import create_transform, resolve_data_config

    import shiftnet.timm_models  # noqa: F401  (registers the names)

    data, out, row = real_run.data, real_run.out, real_run.row
    model = timm.create_model("shiftresnet20_e1", checkpoint_path=str(out / "final.safetensors"))
    config = resolve_data_config({}, model=model)  # what timm's validate.py does
    assert config["input_size"] == (3, 32, 32)
    images, labels = _torchvision_test_images(data, create_transform(**config, is_training=False))
    _check_against_eval(_predictions(model, images), labels, row)


@pytest.mark.realdata
def test_exported_onnx_file_scores_the_runs_predictions(real_run, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from torchvision import transforms

    import shiftnet

    data, out, row = real_run.data, real_run.out, real_run.row
    target = tmp_path / "model.onnx"
    result = runner.invoke(app, ["export", str(out), "--format", "onnx", "--out", str(target), "--data-dir", str(data),
                                 "--images", str(IMAGES)])
    assert result.exit_code == 0, stderr_of(result)
    assert f"{IMAGES}/{IMAGES} predictions equal" in " ".join(result.stdout.split())
    cfg = shiftnet.load_model(out).pretrained_cfg
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(cfg["mean"], cfg["std"])])
    images, labels = _torchvision_test_images(data, transform)
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: images.numpy()})[0]
    _check_against_eval(torch.from_numpy(logits).argmax(1), labels, row)


# What timm's validate.py does, in its own calls (create_model with the keywords validate.py passes, timm's
# checkpoint loader, timm's torchvision-backed dataset and loader, timm's accuracy): run through
# ``python -m shiftnet.timm_script`` exactly as the real validate.py would be run, on the first COUNT test images.
VALIDATE_LIKE = """
import json, sys
import torch
from timm.data import create_dataset, create_loader, resolve_data_config
from timm.models import create_model, load_checkpoint
from timm.utils import accuracy
model_name, checkpoint, data_dir, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
model = create_model(model_name, pretrained=False, num_classes=None, in_chans=3, global_pool=None, scriptable=False)
load_checkpoint(model, checkpoint)
config = resolve_data_config({}, model=model)
dataset = create_dataset(root=data_dir, name="torch/cifar10", split="test", download=False)
dataset.data, dataset.targets = dataset.data[:count], dataset.targets[:count]
loader = create_loader(dataset, input_size=config["input_size"], batch_size=500, use_prefetcher=False,
                       interpolation=config["interpolation"], mean=config["mean"], std=config["std"], num_workers=0,
                       crop_pct=config["crop_pct"], crop_mode=config["crop_mode"], device=torch.device("cpu"))
correct = total = 0
predictions = []
model.eval()
with torch.no_grad():
    for images, labels in loader:
        logits = model(images)
        correct += accuracy(logits, labels, topk=(1,))[0].item() * len(labels) / 100
        total += len(labels)
        predictions += logits.argmax(1).tolist()
print(json.dumps({"top1": 100 * correct / total, "total": total, "num_classes": model.num_classes,
                  "predictions": predictions}))
"""


@pytest.mark.realdata
def test_timm_scripts_run_our_models_through_the_runner(real_run, tmp_path):
    """The runner's predictions are eval's, image for image, and its top-1 is eval's on those images."""
    pytest.importorskip("timm")
    from torchvision.datasets import CIFAR10

    data, out, row = real_run.data, real_run.out, real_run.row
    script = tmp_path / "validate_like.py"
    script.write_text(VALIDATE_LIKE)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "shiftnet.timm_script", str(script), "shiftresnet20_e1",
                           str(out / "final.safetensors"), str(data), str(IMAGES)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["total"] == IMAGES and result["num_classes"] == 10
    labels = torch.tensor(CIFAR10(str(data), train=False, download=False).targets[:IMAGES])
    accuracy = _check_against_eval(torch.tensor(result["predictions"]), labels, row)
    assert abs(result["top1"] - accuracy) < 1e-4, (result["top1"], accuracy)
    usage = subprocess.run([sys.executable, "-m", "shiftnet.timm_script"], capture_output=True, text=True, env=env)
    assert usage.returncode == 2 and "usage: python -m shiftnet.timm_script SCRIPT.py" in usage.stderr
