"""eval / convert: the seed's .t7 files (built here in their exact format), our own checkpoints,
unsafe and broken files, and class-count mismatches."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from shiftnet.checkpoint import load_checkpoint, save_weights
from shiftnet.cli import app
from shiftnet.data.datasets import MARKER
from shiftnet.errors import UsageError
from shiftnet.legacy_t7 import load_t7
from shiftnet.models import ModelSpec, create_model
from shiftnet.models.infer import build_from_state, infer_spec

from .conftest import stderr_of
from .helpers import cifar_batch, make_ready_cifar10
from .legacy_writer import legacy_bytes, seed_checkpoint

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


SPECS = [
    ModelSpec("shiftresnet", 20, expansion=3.0),
    ModelSpec("shiftresnet", 56, expansion=1.0, num_classes=100),
    ModelSpec("resnet", 20),
    ModelSpec("resnet", 20, reduction=3.3, shortcut_rule="legacy"),
    ModelSpec("resnet", 20, reduction=2.8),
    ModelSpec("resnet", 20, reduction=2.9, reduction_mode="net"),
    ModelSpec("depthwiseresnet", 20, reduction=0.38),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("style", ["0.3", "0.4"])
def test_seed_checkpoint_gives_the_same_logits(spec, style, tmp_path):
    model = trained_like(spec)
    path = tmp_path / "model.t7"
    path.write_bytes(seed_checkpoint(model, style=style))
    state, found, meta = load_checkpoint(path)
    assert meta["recorded_acc"] == 91.5 and meta["epoch"] == 120
    rebuilt = build_from_state(state, found).eval()
    assert found.num_classes == spec.num_classes and found.arch == spec.arch and found.depth == spec.depth
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_old_class_paths_and_dataparallel_wrapper(tmp_path):
    model = trained_like(ModelSpec("shiftresnet", 20, expansion=6.0))
    path = tmp_path / "old.t7"
    path.write_bytes(seed_checkpoint(model, data_parallel=True, shift_path=("shiftnet_cuda_v2.nn", "GenericShift_cuda")))
    state, spec, _ = load_checkpoint(path)
    assert not any(k.startswith("module.") for k in state) and spec.expansion == 6.0


def test_malicious_checkpoint_is_refused_and_nothing_runs(tmp_path):
    sentinel = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    path = tmp_path / "evil.t7"
    path.write_bytes(legacy_bytes({"net": Evil(), "acc": 1.0, "epoch": 0}))
    with pytest.raises(UsageError, match="refusing unsafe checkpoint.*(posix|os).system"):
        load_t7(path)
    result = runner.invoke(app, ["eval", str(path)])
    assert result.exit_code == 2 and "refusing unsafe" in stderr_of(result)
    eval_pickle = tmp_path / "eval.t7"
    eval_pickle.write_bytes(legacy_bytes({"net": _Reduce(eval, ("__import__('os').system('touch %s')" % sentinel,))}))
    with pytest.raises(UsageError, match="refusing unsafe"):
        load_t7(eval_pickle)
    assert not sentinel.exists()


class _Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize("damage,message", [
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b[:40], "truncated|not a legacy"),
    (lambda b: b"garbage" * 10, "not a legacy torch checkpoint"),
    (lambda b: b"PK\x03\x04" + b"\x00" * 40, "zip-format"),
])
def test_broken_t7_files(damage, message, tmp_path):
    path = tmp_path / "broken.t7"
    path.write_bytes(damage(seed_checkpoint(trained_like(ModelSpec("resnet", 8)))))
    with pytest.raises(UsageError, match=message):
        load_t7(path)


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


def test_eval_cli_json_table_and_batch_size_invariance(data_dir, tmp_path):
    model = trained_like(ModelSpec("shiftresnet", 20, expansion=3.0))
    t7 = tmp_path / "shiftresnet20_3.0.t7"
    t7.write_bytes(seed_checkpoint(model))
    ours = tmp_path / "ours.safetensors"
    save_weights(ours, model, model.spec, dataset="cifar10", epoch=3, test_accuracy=50.0)
    outputs = []
    for batch in ("7", "500"):
        result = runner.invoke(app, ["eval", str(t7), str(ours), "--batch-size", batch, "--json"])
        assert result.exit_code == 0, stderr_of(result)
        outputs.append([json.loads(line) for line in result.stdout.splitlines()])
    assert [r["correct"] for r in outputs[0]] == [r["correct"] for r in outputs[1]]
    row = outputs[0][0]
    assert {"path", "name", "params", "dataset", "correct", "total", "accuracy"} <= set(row)
    assert row["total"] == 40 and row["params"] == 95_642 and row["dataset"] == "cifar10"
    assert row["seed_accuracy"] == 89.56 and {r["accuracy"] for r in row["seed_refs"]} == {89.56, 90.08}
    assert outputs[0][0]["correct"] == outputs[0][1]["correct"]  # same weights, same answer
    table = runner.invoke(app, ["eval", str(t7)], env={"COLUMNS": "160"})
    assert "89.56%" in table.output and "a=3c" in table.output and "/40" in table.output


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


def test_convert_t7_to_safetensors(data_dir, tmp_path):
    model = trained_like(ModelSpec("resnet", 20, reduction=3.3, shortcut_rule="legacy"))
    t7 = tmp_path / "resnet20_3.3_cifar100.t7"
    t7.write_bytes(seed_checkpoint(model))
    result = runner.invoke(app, ["convert", str(t7), str(tmp_path / "out.safetensors")])
    assert result.exit_code == 0, stderr_of(result)
    assert "sha256" in result.output
    state, spec, meta = load_checkpoint(tmp_path / "out.safetensors")
    assert spec.shortcut_rule == "legacy" and meta["recorded_accuracy"] == 91.5 and meta["dataset"] == "cifar100"
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items() if k in state)
    # 10-class head but a cifar100 name: converting records the name's data set, eval refuses the mismatch
    assert runner.invoke(app, ["eval", str(tmp_path / "out.safetensors")]).exit_code == 2


def test_run_folder_and_glob(data_dir, tmp_path):
    result = runner.invoke(app, ["train", "--arch", "resnet8", "--epochs", "1", "--batch-size", "16", "--limit-batches", "1",
                                 "--device", "cpu", "--out", str(tmp_path / "runs" / "a")])
    assert result.exit_code == 0, stderr_of(result)
    result = runner.invoke(app, ["eval", str(tmp_path / "runs" / "a"), str(tmp_path / "runs" / "*" / "last.pt"), "--json"])
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"].split("/")[-1] for r in rows] == ["final.safetensors", "last.pt"]
    assert rows[0]["correct"] == rows[1]["correct"]
    assert runner.invoke(app, ["eval", str(tmp_path / "nothing*")]).exit_code == 2


@pytest.mark.realdata
@pytest.mark.slow
def test_short_trained_model_on_the_real_test_sets(shared_data, tmp_path):
    data = tmp_path / "data"
    for name, archive in (("cifar10", "cifar-10-python.tar.gz"), ("cifar100", "cifar-100-python-test-only.tar.gz")):
        assert runner.invoke(app, ["download", name, "--to", str(data), "--from", str(shared_data / archive)]).exit_code == 0
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--arch", "resnet8", "--epochs", "1", "--limit-batches", "40", "--device", "cpu",
                                 "--data-dir", str(data), "--out", str(out)])
    assert result.exit_code == 0, stderr_of(result)
    row = json.loads(runner.invoke(app, ["eval", str(out), "--data-dir", str(data), "--json"]).stdout)
    assert row["total"] == 10_000 and row["accuracy"] > 15.0  # 40 steps of SGD: far above chance (10%)
    c100 = tmp_path / "c100.safetensors"
    model = create_model("resnet8", num_classes=100)
    save_weights(c100, model, model.spec, dataset="cifar100")
    row = json.loads(runner.invoke(app, ["eval", str(c100), "--data-dir", str(data), "--json"]).stdout)
    assert row["total"] == 10_000 and row["dataset"] == "cifar100"


def test_mean_and_std_over_runs_of_the_same_model(data_dir, tmp_path):
    paths = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = create_model("resnet8")
        path = tmp_path / f"s{seed}.safetensors"
        save_weights(path, model, model.spec, dataset="cifar10")
        paths.append(str(path))
    result = runner.invoke(app, ["eval", *paths], env={"COLUMNS": "160"})
    assert result.exit_code == 0, stderr_of(result)
    assert "over runs" in result.output and " 3 " in result.output
    single = runner.invoke(app, ["eval", paths[0]], env={"COLUMNS": "160"})
    assert "over runs" not in single.output


@pytest.mark.parametrize("args,message", [(["--amp", "fp8"], "--amp must be off, bf16 or fp16"),
                                          (["--batch-size", "0"], "--batch-size must be >= 1"),
                                          (["--dataset", "svhn"], "unknown dataset 'svhn'")])
def test_eval_bad_flags(args, message, data_dir, tmp_path):
    model = create_model("resnet8")
    path = tmp_path / "m.safetensors"
    save_weights(path, model, model.spec, dataset="cifar10")
    result = runner.invoke(app, ["eval", str(path), *args])
    assert result.exit_code == 2 and message in stderr_of(result)
    assert len(stderr_of(result).strip().splitlines()) == 1
