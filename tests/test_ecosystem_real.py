"""A run's weights leave shiftnet and keep their accuracy: torch.hub, timm (with timm's own data pipeline)
and the exported ONNX file score the same 1,000 real CIFAR-10 test images as ``shiftnet eval`` does.

The oracle for the images is torchvision's ``CIFAR10`` reader (its own md5 checks, its own decoding), not
our loader; the oracle for the predictions is ``shiftnet eval --predictions`` over the whole test set.
The run itself is real: 30 SGD steps of ShiftResNet20 a = c on the real training set, far above chance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from shiftnet.cli import app

from .conftest import SHARED_DATA, stderr_of

REPO = Path(__file__).resolve().parents[1]
IMAGES = 1000
runner = CliRunner()


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    shared_data = SHARED_DATA
    if not (shared_data / "cifar-10-python.tar.gz").is_file():
        pytest.skip(f"real CIFAR archives not found in {shared_data}")
    root = tmp_path_factory.mktemp("real")
    data = root / "data"
    result = runner.invoke(app, ["download", "cifar10", "--to", str(data), "--from",
                                 str(shared_data / "cifar-10-python.tar.gz")])
    assert result.exit_code == 0, stderr_of(result)
    out = root / "run"
    result = runner.invoke(app, ["train", "--depth", "20", "--expansion", "1", "--epochs", "1", "--limit-batches", "30",
                                 "--device", "cpu", "--data-dir", str(data), "--out", str(out)])
    assert result.exit_code == 0, stderr_of(result)
    result = runner.invoke(app, ["eval", str(out / "final.safetensors"), "--data-dir", str(data), "--json",
                                 "--predictions"])
    assert result.exit_code == 0, stderr_of(result)
    row = json.loads(result.stdout)
    return data, out, row


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

    data, out, row = real_run
    model = torch.hub.load(str(REPO), "shiftresnet20", source="local", expansion=1,
                           checkpoint_path=str(out / "final.safetensors"), trust_repo=True)
    cfg = model.pretrained_cfg
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(cfg["mean"], cfg["std"])])
    images, labels = _torchvision_test_images(data, transform)
    _check_against_eval(_predictions(model, images), labels, row)


@pytest.mark.realdata
def test_timm_model_with_timms_data_pipeline_scores_the_runs_predictions(real_run):
    timm = pytest.importorskip("timm")
    import shiftnet.timm_models  # noqa: F401  (registers the names)
    from timm.data import create_transform, resolve_data_config

    data, out, row = real_run
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

    data, out, row = real_run
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
