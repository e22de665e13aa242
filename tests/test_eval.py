"""eval / convert on this project's checkpoints: the normalisation each was trained with, honest
pooling over seeds, the table and JSON as printed, conversion that keeps metadata and never writes
over a file, class-count mismatches and broken files. The original .t7 files: test_legacy_t7."""

from __future__ import annotations

import csv
import dataclasses
import json
import pickle
import re
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from shiftnet.checkpoint import load_checkpoint, save_weights, training_metadata
from shiftnet.cli import app
from shiftnet.cli.eval import pool_key
from shiftnet.config import Config
from shiftnet.data import CifarLoader, load_split
from shiftnet.data.datasets import MARKER, SEED_MEAN, SEED_STD
from shiftnet.engine.evaluate import evaluate
from shiftnet.models import ModelSpec, create_model
from shiftnet.models.infer import build_from_state, infer_spec

from .conftest import stderr_of
from .helpers import cifar_batch, make_ready_cifar10

runner = CliRunner()


def trained_like(spec: ModelSpec) -> torch.nn.Module:
    """A model with non-trivial BN statistics, so a wrong mapping would change the logits."""
    torch.manual_seed(1)
    model = create_model(spec).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    return model


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = make_ready_cifar10(tmp_path / "data", n_test=40)
    c100 = folder / "cifar-100-python"
    c100.mkdir()
    (c100 / "test").write_bytes(cifar_batch(30, 5, label_key=b"fine_labels", classes=100))
    (c100 / "meta").write_bytes(pickle.dumps({}, protocol=2))
    (c100 / MARKER).write_text(json.dumps({"splits": ["test"]}))
    monkeypatch.setenv("SHIFTNET_DATA", str(folder))
    return folder


def test_hundred_class_checkpoint_on_cifar10_is_an_error(data_dir, tmp_path):
    model = trained_like(ModelSpec("shiftresnet", 20, expansion=1.0, num_classes=100))
    path = tmp_path / "c100.safetensors"
    save_weights(path, model, model.spec, dataset="cifar100")
    result = runner.invoke(app, ["eval", str(path), "--dataset", "cifar10"])
    assert result.exit_code == 2 and "100-class head" in stderr_of(result)
    ok = runner.invoke(app, ["eval", str(path), "--json"])  # its own data set: the CIFAR-100 test file
    assert ok.exit_code == 0 and json.loads(ok.stdout)["total"] == 30


def test_missing_key_and_truncated_safetensors(data_dir, tmp_path):
    model = trained_like(ModelSpec("resnet", 20))
    path = tmp_path / "m.safetensors"
    save_weights(path, model, model.spec, dataset="cifar10")
    state = load_file(str(path))
    del state["layer2.1.conv1.weight"]
    broken = tmp_path / "missing.safetensors"
    save_file(state, str(broken), metadata={"spec": json.dumps(model.spec.to_dict())})
    result = runner.invoke(app, ["eval", str(broken)])
    assert result.exit_code == 2 and "missing layer2.1.conv1.weight" in stderr_of(result)
    truncated = tmp_path / "t.safetensors"
    truncated.write_bytes(path.read_bytes()[:1000])
    result = runner.invoke(app, ["eval", str(truncated)])
    assert result.exit_code == 2 and "not a readable safetensors" in stderr_of(result)
    assert len(stderr_of(result).strip().splitlines()) == 1
    result = runner.invoke(app, ["eval", str(tmp_path / "nope.t7")])
    assert result.exit_code == 2 and "not found" in stderr_of(result)


def test_state_dict_matching_no_architecture():
    state = create_model("resnet20").state_dict()
    state["layer3.1.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    with pytest.raises(ValueError, match="weights do not match|fit no"):
        build_from_state(state, infer_spec(state))
    with pytest.raises(ValueError, match="linear.weight"):
        infer_spec({"conv1.weight": torch.zeros(16, 3, 3, 3)})


def test_run_folder_and_glob(data_dir, tmp_path):
    result = runner.invoke(app, ["train", "--arch", "resnet8", "--epochs", "1", "--batch-size", "16",
                                 "--limit-batches", "1", "--device", "cpu", "--out", str(tmp_path / "runs" / "a")])
    assert result.exit_code == 0, stderr_of(result)
    result = runner.invoke(app, ["eval", str(tmp_path / "runs" / "a"), str(tmp_path / "runs" / "*" / "last.pt"),
                                 "--json"])
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"].split("/")[-1] for r in rows] == ["final.safetensors", "last.pt"]
    assert rows[0]["correct"] == rows[1]["correct"]
    assert runner.invoke(app, ["eval", str(tmp_path / "nothing*")]).exit_code == 2


@pytest.mark.realdata
def test_short_trained_model_on_the_real_test_sets(real_run, tmp_path):
    """The whole real test sets: a short real run (conftest.py's ``real_run``, eval of its folder) scores
    all 10,000 CIFAR-10 test images far above chance, and a 100-class head all 10,000 of CIFAR-100."""
    row = real_run.row
    assert row["total"] == 10_000 and row["accuracy"] > 15.0  # 30 steps of SGD: far above chance (10%)
    assert row["dataset"] == "cifar10" and len(row["predictions"]) == 10_000
    c100 = tmp_path / "c100.safetensors"
    model = create_model("resnet8", num_classes=100)
    save_weights(c100, model, model.spec, dataset="cifar100")
    result = runner.invoke(app, ["eval", str(c100), "--data-dir", str(real_run.data), "--json"])
    assert result.exit_code == 0, stderr_of(result)
    row = json.loads(result.stdout)
    assert row["total"] == 10_000 and row["dataset"] == "cifar100"


@pytest.mark.parametrize("args,message", [(["--amp", "fp8"], "--amp must be off, bf16 or fp16"),
                                          (["--batch-size", "0"], "--batch-size must be >= 1"),
                                          (["--dataset", "svhn"], "unknown dataset 'svhn'"),
                                          (["--predictions"], "--predictions needs --json")])
def test_eval_bad_flags(args, message, data_dir, tmp_path):
    model = create_model("resnet8")
    path = tmp_path / "m.safetensors"
    save_weights(path, model, model.spec, dataset="cifar10")
    result = runner.invoke(app, ["eval", str(path), *args])
    assert result.exit_code == 2 and message in stderr_of(result)
    assert len(stderr_of(result).strip().splitlines()) == 1


def _train(out, data_dir, normalization: str, seed: int = 0, epochs: int = 1):
    config = out.parent / f"{out.name}.yaml"
    config.write_text(f'data:\n  normalization: "{normalization}"\n')
    result = runner.invoke(app, ["train", "--config", str(config), "--arch", "resnet8", "--epochs", str(epochs),
                                 "--batch-size", "16", "--limit-batches", "2", "--seed", str(seed), "--device", "cpu",
                                 "--data-dir", str(data_dir), "--out", str(out)])
    assert result.exit_code == 0, stderr_of(result)
    with open(out / "metrics.csv") as handle:
        return list(csv.DictReader(handle))[-1]


@pytest.mark.parametrize("normalization", ["seed", "true"])
def test_eval_reproduces_the_runs_own_test_accuracy(normalization, data_dir, tmp_path):
    """eval of a run folder (and of its last.pt) gives exactly the final epoch's test accuracy in
    metrics.csv: it normalises as the run did. Scoring with the other statistics would not."""
    final = _train(tmp_path / "run", data_dir, normalization)
    rows = [json.loads(runner.invoke(app, ["eval", str(p), "--json"]).stdout)
            for p in (tmp_path / "run", tmp_path / "run" / "last.pt")]
    for row in rows:
        assert f"{row['accuracy']:.6g}" == final["test_acc"] and row["total"] == 40
        assert row["correct"] == round(float(final["test_acc"]) * 40 / 100)
        assert row["loss"] == pytest.approx(float(final["test_loss"]), rel=1e-5)
        assert row["normalization"]["source"] == "metadata" and row["recipe"]["data"]["normalization"] == normalization
    true = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))  # CIFAR-10's own statistics
    expected, other = ((SEED_MEAN, SEED_STD), true) if normalization == "seed" else (true, (SEED_MEAN, SEED_STD))
    assert (tuple(rows[0]["normalization"]["mean"]), tuple(rows[0]["normalization"]["std"])) == expected
    state, spec, _ = load_checkpoint(tmp_path / "run" / "final.safetensors")
    images, labels = load_split(data_dir, "cifar10", train=False)
    loader = CifarLoader(images, labels, 500, False, *other)
    wrong = evaluate(build_from_state(state, spec), loader, torch.device("cpu"))
    assert wrong["loss"] != pytest.approx(float(final["test_loss"]), rel=1e-5)  # so the test above can fail


def test_weights_without_normalisation_metadata(data_dir, tmp_path):
    """Weights written before checkpoints recorded it: the run's config.yaml beside them decides;
    alone, the seed's statistics are assumed and the row says so."""
    final = _train(tmp_path / "run", data_dir, "true")
    path = tmp_path / "run" / "final.safetensors"
    state = load_file(str(path))
    _, spec, meta = load_checkpoint(path)
    kept = ("dataset", "epoch", "test_accuracy", "kind", "epochs", "seed")  # what weights recorded before
    old = {k: json.dumps(v) for k, v in meta.items() if k in kept}
    save_file(state, str(path), metadata={"format": "shiftnet-weights-1", "spec": json.dumps(spec.to_dict()), **old})
    row = json.loads(runner.invoke(app, ["eval", str(path), "--json"]).stdout)
    assert f"{row['accuracy']:.6g}" == final["test_acc"] and row["normalization"]["source"].endswith("config.yaml")
    alone = tmp_path / "alone.safetensors"
    shutil.copy(path, alone)
    row = json.loads(runner.invoke(app, ["eval", str(alone), "--json"]).stdout)
    assert row["normalization"]["source"].startswith("assumed") and row["normalization"]["mean"] == list(SEED_MEAN)


def _weights(tmp_path, name: str, seed: int, epochs: int = 1, kind: str = "final", lr: float = 0.1):
    config = Config()
    config.model = dataclasses.replace(config.model, arch="resnet", depth=8)
    config.run.seed, config.optim.epochs, config.optim.lr = seed, epochs, lr
    torch.manual_seed(seed)
    model = create_model("resnet8")
    path = tmp_path / name
    save_weights(path, model, model.spec, **training_metadata(config.to_dict()), epoch=epochs - 1, kind=kind,
                 test_accuracy=10.0)
    return str(path)


def test_mean_and_std_pool_only_runs_that_differ_in_the_seed(data_dir, tmp_path):
    pooled = [_weights(tmp_path, f"s{seed}.safetensors", seed) for seed in range(3)]
    others = [_weights(tmp_path, "two-epochs.safetensors", 3, epochs=2),
              _weights(tmp_path, "best.safetensors", 4, kind="best-on-test"),
              _weights(tmp_path, "lr.safetensors", 5, lr=0.05)]
    copy = tmp_path / "copy-of-s0.safetensors"
    shutil.copy(pooled[0], copy)
    paths = pooled + others
    rows = [json.loads(line) for line in runner.invoke(app, ["eval", *paths, "--json"]).stdout.splitlines()]
    keys = [pool_key(row) for row in rows]
    assert keys[0] == keys[1] == keys[2] and len(set(keys[2:])) == 4
    result = runner.invoke(app, ["eval", *paths])
    assert result.exit_code == 0, stderr_of(result)
    summary = result.output[result.output.index("over seeds"):]
    assert len(re.findall(r"resnet8 ", summary)) == 1 and re.search(r" 0,1,2 ", summary)
    single = runner.invoke(app, ["eval", *others])
    assert "over seeds" not in single.output
    repeated = runner.invoke(app, ["eval", pooled[0], str(copy)])
    assert "over seeds" not in repeated.output and "same seed appears twice" in repeated.output


def test_checkpoint_column_shows_the_whole_path(data_dir, tmp_path):
    folder = tmp_path / ("a-rather-long-folder-name-" * 3) / ("and-another-one-" * 3)
    folder.mkdir(parents=True)
    path = _weights(folder, "shiftnet-final-weights-with-a-long-name-0123456789.safetensors", 0)
    result = runner.invoke(app, ["eval", path])
    assert result.exit_code == 0, stderr_of(result)
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.strip().startswith("checkpoint"))
    start, end = lines[header].index("checkpoint"), lines[header].index("model")
    cell = "".join(line[start:end].strip() for line in lines[header + 2:] if line.strip())
    assert cell == path and "…" not in result.output


def test_convert_safetensors_keeps_metadata_and_never_writes_over_a_file(data_dir, tmp_path):
    source = _weights(tmp_path, "final.safetensors", 7)
    before = open(source, "rb").read()
    result = runner.invoke(app, ["convert", source])
    assert result.exit_code == 2 and "would write over its input" in stderr_of(result)
    assert open(source, "rb").read() == before
    taken = tmp_path / "taken.safetensors"
    taken.write_bytes(b"mine")
    result = runner.invoke(app, ["convert", source, str(taken)])
    assert result.exit_code == 2 and "already exists" in stderr_of(result) and taken.read_bytes() == b"mine"
    out = tmp_path / "copy.safetensors"
    assert runner.invoke(app, ["convert", source, str(out)]).exit_code == 0
    _, _, original = load_checkpoint(source)
    _, _, converted = load_checkpoint(out)
    assert converted.pop("converted_from") == "final.safetensors"
    assert converted == original


def test_json_numbers_are_rounded(data_dir, tmp_path):
    model = trained_like(ModelSpec("shiftresnet", 20, expansion=1.0, num_classes=100))
    path = tmp_path / "c100.safetensors"
    save_weights(path, model, model.spec, dataset="cifar100")
    row = json.loads(runner.invoke(app, ["eval", str(path), "--json"]).stdout)
    assert row["total"] == 30  # accuracies in thirds: unrounded they print 16 digits
    for key in ("accuracy", "difference"):
        assert len(repr(row[key]).split(".")[-1]) <= 4, row[key]
    assert row["difference"] == round(row["accuracy"] - row["seed_accuracy"], 4)
