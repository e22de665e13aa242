"""The optional extras of pyproject.toml: one per optional piece, each import of an optional package in
``shiftnet/`` guarded and naming its extra, each extra's packages doing what shiftnet uses them for
when installed (skipped cleanly when not), and each missing one said in one line that names it."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

from shiftnet.errors import ShiftnetError

from .runs import data_dir, one_thread, tiny_config  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
EXTRAS = PYPROJECT["optional-dependencies"]
# the modules each extra provides, as shiftnet imports them
PROVIDES = {"plot": ["matplotlib"], "tensorboard": ["tensorboard"], "wandb": ["wandb"], "timm": ["timm"],
            "export": ["onnx", "onnxscript", "onnxruntime"], "cuda12": ["cupy"], "cuda13": ["cupy"]}
CORE = {"torch", "torchvision", "typer", "rich", "yaml", "safetensors", "numpy"}  # project.dependencies
THROUGH_CORE = {"click": "typer", "typing_extensions": "typer", "sympy": "torch"}  # what those bring with them


def requirement(spec: str) -> tuple[str, tuple[int, ...] | None]:
    """``name>=1.2`` as (normalised name, (1, 2)); None when no lower bound is given."""
    match = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*(?:>=\s*([0-9][0-9.]*))?", spec)
    floor = tuple(int(p) for p in match.group(2).strip(".").split(".")) if match.group(2) else None
    return re.sub(r"[-_.]+", "-", match.group(1)).lower(), floor


def release(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.match(r"^[0-9]+(?:\.[0-9]+)*", version).group(0).split("."))


def test_every_optional_piece_has_an_extra_and_the_test_extra_installs_the_portable_ones():
    assert set(PROVIDES) | {"test"} <= set(EXTRAS)
    test = {requirement(spec)[0] for spec in EXTRAS["test"]}
    for extra in ("plot", "tensorboard", "wandb", "timm", "export"):  # the CUDA ones need a GPU to mean anything
        assert {requirement(spec)[0] for spec in EXTRAS[extra]} <= test, extra
    assert {requirement(spec)[0] for spec in EXTRAS["cuda12"]} == {"cupy-cuda12x"}
    assert {requirement(spec)[0] for spec in EXTRAS["cuda13"]} == {"cupy-cuda13x"}


def _imports(tree: ast.AST):
    """(top-level module, node, guarded): each absolute import, and whether a ``try`` that catches
    ImportError (or a broader class) encloses it."""
    catches = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}

    def walk(node, guarded):
        for child in ast.iter_child_nodes(node):
            inner = guarded
            if isinstance(node, ast.Try) and child in node.body:
                types = [e for h in node.handlers for e in (h.type.elts if isinstance(h.type, ast.Tuple) else [h.type])]
                names = {getattr(e, "id", None) for e in types}
                inner = guarded or bool(names & catches)
            if isinstance(child, ast.Import):
                yield from ((alias.name, child, inner) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0:
                yield child.module, child, inner
            yield from walk(child, inner)

    yield from walk(tree, False)


def test_every_optional_import_is_guarded_and_its_module_names_the_extra():
    """An import of an optional package either sits in a ``try`` that turns its absence into a message, or
    runs inside a function of a module that has such a guard for the same package (it runs after it);
    the module says which extra installs it (``pip install 'shiftnet[NAME]'``)."""
    optional = {module: extra for extra, modules in PROVIDES.items() for module in modules}
    problems = []
    for path in sorted((REPO / "shiftnet").rglob("*.py")):
        text = path.read_text()
        found = list(_imports(ast.parse(text)))
        guarded_here = {name.split(".")[0] for name, _, guarded in found if guarded}
        for name, node, guarded in found:
            top = name.split(".")[0]
            if name.startswith("torch.utils.tensorboard"):
                top = "tensorboard"  # torch's module, the tensorboard package's code
            elif top in sys.stdlib_module_names or top in CORE or top in THROUGH_CORE or top == "shiftnet":
                continue
            where = f"{path.relative_to(REPO)}:{node.lineno} imports {name}"
            if top not in optional:
                problems.append(f"{where}, which no extra installs")
                continue
            in_function = node.col_offset > 0
            if not guarded and not (in_function and top in guarded_here):
                problems.append(f"{where} unguarded")
            extras = [extra for extra, modules in PROVIDES.items() if top in modules]
            if not any(f"shiftnet[{extra}]" in text for extra in extras):
                problems.append(f"{where} and never names shiftnet[{'|'.join(extras)}]")
    assert problems == []


@pytest.mark.parametrize("extra", sorted(PROVIDES))
def test_an_installed_extra_meets_its_pins_and_does_its_job(extra, tmp_path):
    for module in PROVIDES[extra]:
        pytest.importorskip(module)
    for spec in EXTRAS[extra]:
        name, floor = requirement(spec)
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            pytest.skip(f"{name} is not installed (another wheel provides {PROVIDES[extra]})")
        assert floor is None or release(installed) >= floor, f"{name} {installed} is older than {spec}"
    if extra == "plot":
        from shiftnet.plots import plot_accuracy_vs_params

        assert plot_accuracy_vs_params([], "cifar10", tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    elif extra == "tensorboard":
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(tmp_path)) as writer:
            writer.add_scalar("x", 1.5, 7)
        events = EventAccumulator(str(tmp_path))
        events.Reload()
        assert [(e.step, e.value) for e in events.Scalars("x")] == [(7, 1.5)]
    elif extra == "wandb":
        from shiftnet.engine.scalars import require_wandb

        assert require_wandb() is sys.modules["wandb"]
    elif extra == "timm":
        import timm

        import shiftnet.timm_models  # noqa: F401 - registers the names
        from shiftnet.models import count_params, create_model

        assert count_params(timm.create_model("shiftresnet20_e3")) == count_params(create_model("shiftresnet20_e3"))
    elif extra == "export":
        import onnxruntime

        assert "CPUExecutionProvider" in onnxruntime.get_available_providers()
    else:
        import cupy

        if not cupy.is_available():
            pytest.skip("CuPy sees no GPU here")
        assert int(cupy.arange(3).sum()) == 3


def _plot(tmp_path):
    from shiftnet.plots import plot_accuracy_vs_params

    plot_accuracy_vs_params([], "cifar10", tmp_path / "a.png")


def _export(tmp_path):
    from shiftnet.export import load_exported

    load_exported(tmp_path / "model.onnx", "onnx")


def _timm(tmp_path):
    importlib.import_module("shiftnet.timm_models")


def _wandb(tmp_path):
    from shiftnet.engine.scalars import require_wandb

    require_wandb()


@pytest.mark.parametrize("extra,module,use", [("plot", "matplotlib", _plot), ("export", "onnxruntime", _export),
                                              ("timm", "timm", _timm), ("wandb", "wandb", _wandb)])
def test_a_missing_extra_is_named_in_one_line(extra, module, use, tmp_path, monkeypatch):
    for name in [name for name in sys.modules if name == module or name.startswith(f"{module}.")] or [module]:
        monkeypatch.setitem(sys.modules, name, None)  # what importing it does where it is not installed
    monkeypatch.delitem(sys.modules, "shiftnet.timm_models", raising=False)  # imported afresh, restored after
    with pytest.raises((ShiftnetError, ImportError)) as caught:
        use(tmp_path)
    message = str(caught.value)
    assert f"pip install 'shiftnet[{extra}]'" in message and "\n" not in message


def test_without_tensorboard_a_run_writes_no_events_and_says_nothing(data_dir, tmp_path, monkeypatch):
    """TensorBoard is the one silent extra: a run without it is the normal case, not a problem."""
    from shiftnet.engine.train import Trainer

    from .run_worker import Quiet

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    said = []
    reporter = Quiet()
    reporter.message = said.append
    Trainer(tiny_config(data_dir, 1, **{"run.log_every": 1}), tmp_path / "run", reporter=reporter).run()
    assert not (tmp_path / "run" / "tensorboard").exists() and (tmp_path / "run" / "last.pt").is_file()
    # the opening line names the run folder, whose pytest path holds this test's name: leave the path out
    assert not any("tensorboard" in line.replace(str(tmp_path), "").lower() for line in said), said
