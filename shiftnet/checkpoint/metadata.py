"""What a checkpoint records besides its weights: the data set, the input normalisation, the recipe.

Scoring weights with other statistics than they were trained with gives a wrong accuracy without a
word (the original normalised both data sets with CIFAR-10's figures, docs/original.md#recipe), so
every checkpoint of a run carries its normalisation; the recipe, epochs and seed let ``eval`` pool
only runs that differ in the seed alone. ``training_metadata`` is the one writer of these keys, for
``last.pt`` and ``.safetensors`` alike; ``metadata_beside`` fills them in for weights written before
they were recorded.
"""

from __future__ import annotations

from pathlib import Path

from ..data.datasets import DATASETS, SEED_MEAN, SEED_STD, get_dataset

# Config keys that are not part of the recipe: the model and data set (recorded apart), where and
# how fast it ran, and what is only reported (select_on_test picks the headline, not the weights).
_NOT_RECIPE = {"model": None, "data": {"dataset", "data_dir", "eval_batch_size"}, "optim": {"epochs"},
               "run": {"seed", "device", "compile", "name", "out", "shift_impl", "select_on_test"}}
ASSUMED = "assumed: the seed's statistics (no normalisation recorded)"


def normalization_of(name: str, dataset: str) -> dict:
    """The statistics the loader normalises with: the seed's CIFAR-10 figures for both data sets
    (``seed``), or the data set's own (``true``)."""
    info = get_dataset(dataset)
    mean, std = (SEED_MEAN, SEED_STD) if name == "seed" else (info.true_mean, info.true_std)
    return {"name": name, "mean": list(mean), "std": list(std)}


def recipe_of(config: dict) -> dict:
    """The part of a resolved config (``Config.to_dict()``) that changes what training computes,
    beyond the model, data set, epochs and seed."""
    recipe = {}
    for section, values in config.items():
        dropped = _NOT_RECIPE.get(section, set())
        if dropped is not None and isinstance(values, dict):
            recipe[section] = {k: v for k, v in values.items() if k not in dropped}
    return recipe


def training_metadata(config: dict) -> dict:
    """What every checkpoint of a run records besides its weights and spec (see the module doc)."""
    data = config["data"]
    norm = normalization_of(data.get("normalization", "seed"), data["dataset"])
    return {"dataset": data["dataset"], "normalization": norm, "recipe": recipe_of(config),
            "epochs": config["optim"]["epochs"], "seed": config["run"]["seed"]}


def metadata_beside(path: Path, meta: dict) -> None:
    """For weights written before checkpoints recorded their normalisation: take it (and the recipe)
    from the run's ``config.yaml`` beside them; failing that, say that the seed's statistics are assumed."""
    import yaml

    config = None
    try:
        config = yaml.safe_load((path.parent / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        pass
    data = config.get("data") if isinstance(config, dict) else None
    run = config.get("run") if isinstance(config, dict) else None
    dataset = data.get("dataset") if isinstance(data, dict) else None
    same_run = (dataset in DATASETS and meta.get("dataset", dataset) == dataset
                and (not isinstance(run, dict) or meta.get("seed", run.get("seed")) == run.get("seed")))
    if same_run:
        meta["normalization"] = {**normalization_of(data.get("normalization", "seed"), dataset),
                                 "source": f"{path.parent / 'config.yaml'}"}
        meta.setdefault("recipe", recipe_of(config))
    else:
        meta["normalization"] = {**normalization_of("seed", "cifar10"), "source": ASSUMED}
