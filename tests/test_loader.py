"""The batched loader: the seed's augmentation exactly (vs torchvision), seeding, resume, DDP shards."""

from __future__ import annotations

import collections

import pytest
import torch

from shiftnet.data import SEED_MEAN, SEED_STD, CifarLoader
from shiftnet.data.loader import augment, epoch_plan


def position_images(n: int) -> torch.Tensor:
    """uint8 images whose pixels encode position: channel 0 = row + 1, channel 1 = column + 1 (0 = padding)."""
    rows = torch.arange(32).view(32, 1).expand(32, 32)
    cols = torch.arange(32).view(1, 32).expand(32, 32)
    image = torch.stack([rows + 1, cols + 1, (rows * 3 + cols) % 200 + 50]).to(torch.uint8)
    return image.unsqueeze(0).repeat(n, 1, 1, 1)


def decode(crop: torch.Tensor) -> tuple[int, int, bool]:
    """Recover (top, left, flipped) of a crop of a position image padded by 4 (zero = padding)."""
    rows, cols = crop[0].long(), crop[1].long()
    r, c = (rows > 0).nonzero()[0].tolist()
    top = rows[r, c].item() - 1 - r + 4
    flipped = cols[r, c].item() > cols[r, min(c + 1, 31)].item() if (cols[r] > 0).sum() > 1 else False
    valid = (cols[r] > 0).nonzero().flatten()
    if flipped:
        left = cols[r, valid[-1]].item() - 1 - (31 - valid[-1].item()) + 4
    else:
        left = cols[r, valid[0]].item() - 1 - valid[0].item() + 4
    return top, left, flipped


def padded_crop(image: torch.Tensor, top: int, left: int, flip: bool) -> torch.Tensor:
    padded = torch.nn.functional.pad(image, (4, 4, 4, 4))
    crop = padded[:, top : top + 32, left : left + 32]
    return crop.flip(-1) if flip else crop


def test_each_output_is_a_zero_padded_crop_at_its_planned_offset():
    images = position_images(64)
    plan = epoch_plan(64, seed=3, epoch=0, train=True)
    out = augment(images, plan.offsets, plan.flips)
    for i in range(64):
        top, left = plan.offsets[i].tolist()
        assert torch.equal(out[i], padded_crop(images[i], top, left, bool(plan.flips[i])))
        assert decode(out[i]) == (top, left, bool(plan.flips[i]))


def _chi_square(counts: collections.Counter, cells: int, total: int) -> float:
    expected = total / cells
    return sum((counts.get(k, 0) - expected) ** 2 / expected for k in range(cells)) + 0.0


def test_distribution_matches_torchvision_random_crop_and_flip():
    """Both draw (top, left, flip) uniformly from 9 x 9 x 2: chi-square of each against uniform
    (df = 161, 0.1% critical value about 222) and of the two samples against each other."""
    from PIL import Image
    from torchvision import transforms

    draws = 8_100
    plan = epoch_plan(draws, seed=11, epoch=0, train=True)
    ours = collections.Counter(
        int(top) * 18 + int(left) * 2 + int(flip)
        for (top, left), flip in zip(plan.offsets.tolist(), plan.flips.tolist())
    )
    torch.manual_seed(0)
    tv = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()])
    image = Image.fromarray(position_images(1)[0].permute(1, 2, 0).numpy())
    theirs = collections.Counter()
    for _ in range(draws):
        crop = torch.from_numpy(__import__("numpy").array(tv(image))).permute(2, 0, 1)
        top, left, flip = decode(crop)
        theirs[top * 18 + left * 2 + int(flip)] += 1
    assert _chi_square(ours, 162, draws) < 222
    assert _chi_square(theirs, 162, draws) < 222
    # two-sample chi-square (homogeneity), df = 161
    stat = sum((ours.get(k, 0) - theirs.get(k, 0)) ** 2 / (ours.get(k, 0) + theirs.get(k, 0))
               for k in range(162) if ours.get(k, 0) + theirs.get(k, 0))
    assert stat < 222
    # and the pixels agree: one torchvision crop of a real-looking image equals our crop at its decoded offset
    top, left, flip = decode(crop)
    assert torch.equal(crop, padded_crop(position_images(1)[0], top, left, flip))


def test_normalisation_and_eval_order():
    images = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(10)
    loader = CifarLoader(images, labels, 4, train=False, mean=SEED_MEAN, std=SEED_STD)
    batches = list(loader)
    assert [len(y) for _, y in batches] == [4, 4, 2]  # last partial batch kept
    x = torch.cat([b for b, _ in batches])
    mean, std = torch.tensor(SEED_MEAN).view(1, 3, 1, 1), torch.tensor(SEED_STD).view(1, 3, 1, 1)
    expected = (images.float() / 255 - mean) / std
    torch.testing.assert_close(x, expected)
    assert torch.cat([y for _, y in batches]).tolist() == list(range(10))


def test_seeded_reproducible_and_resumable():
    images = torch.randint(0, 256, (50, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(50)
    a = CifarLoader(images, labels, 16, train=True, mean=SEED_MEAN, std=SEED_STD, seed=5)
    b = CifarLoader(images, labels, 16, train=True, mean=SEED_MEAN, std=SEED_STD, seed=5)
    first = list(a)
    assert all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(first, b))
    assert [len(y) for _, y in first] == [16, 16, 16, 2] and len(a) == 4
    assert sorted(torch.cat([y for _, y in first]).tolist()) == list(range(50))
    a.set_epoch(1)
    assert not torch.equal(list(a)[0][1], first[0][1])
    a.set_epoch(0)
    tail = list(a.batches(start=2))
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(tail, first[2:]))
    c = CifarLoader(images, labels, 16, train=True, mean=SEED_MEAN, std=SEED_STD, seed=6)
    assert not torch.equal(list(c)[0][1], first[0][1])


@pytest.mark.parametrize("world_size", [2, 3])
def test_ddp_shards_are_disjoint_and_equal(world_size):
    n = 50
    shards = [
        epoch_plan(n, seed=1, epoch=2, train=True, rank=r, world_size=world_size).indices for r in range(world_size)
    ]
    sizes = {len(s) for s in shards}
    assert sizes == {-(-n // world_size)}
    combined = torch.cat(shards).tolist()
    assert set(combined) == set(range(n))
    padding = len(combined) - n
    assert len(combined) - len(set(combined)) == padding  # only the DistributedSampler wrap-around repeats
    # rank shards interleave the global permutation
    single = epoch_plan(n, seed=1, epoch=2, train=True).indices
    assert shards[0][: n // world_size].tolist() == single[0::world_size][: n // world_size].tolist()


def test_channels_last_and_bad_inputs():
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    x, _ = next(iter(CifarLoader(images, torch.arange(8), 8, True, SEED_MEAN, SEED_STD, channels_last=True)))
    assert x.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="uint8"):
        CifarLoader(images.float(), torch.arange(8), 8, True, SEED_MEAN, SEED_STD)
    with pytest.raises(ValueError, match="batch size"):
        CifarLoader(images, torch.arange(8), 0, True, SEED_MEAN, SEED_STD)
