"""Batched augmentation: crop and flip correctness against per-image slicing, normalisation, and the three
composed in the order the training step uses; MixUp (the convex combination, lambda ~ Beta) and Cutout
(exactly the clipped square, after normalisation)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cifar10_study.data.augment import AugmentConfig, MixUp, TrainAugment, normalize
from cifar10_study.data.cifar10 import MEAN, STD
from helpers import augment_batch, batch_crop, batch_cutout, batch_flip, mix_batch


def images(n=64, seed=0):
    return torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.mark.parametrize("padding", [1, 4])
def test_crop_is_a_window_of_the_zero_padded_image_at_a_uniform_offset(padding):
    """Padding 1 too: the smallest padding that crops (3 x 3 offsets), not only the recipes' 4."""
    x = images(256)
    out = batch_crop(x, padding=padding, generator=torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = F.pad(x, (padding,) * 4)
    offsets = []
    span = range(2 * padding + 1)
    for i in range(len(x)):
        matches = [(dy, dx) for dy in span for dx in span
                   if torch.equal(out[i], padded[i, :, dy:dy + 32, dx:dx + 32])]
        assert matches, f"image {i} is not a 32x32 window of its padded copy"
        offsets.append(matches[0])
    dys = {dy for dy, _ in offsets}
    dxs = {dx for _, dx in offsets}
    assert dys == set(span) and dxs == set(span)  # every offset 0..2 * padding occurs in 256 draws
    # rows and columns drawn independently: all 9 pairs for padding 1, more than 40 of the 81 for padding 4
    assert len(set(offsets)) > min(40, len(span) ** 2 - 1)


def test_crop_padding_zero_is_identity_and_crop_is_seeded():
    x = images()
    assert torch.equal(batch_crop(x, 0, torch.Generator()), x)
    a = batch_crop(x, 4, torch.Generator().manual_seed(3))
    b = batch_crop(x, 4, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_flip_mirrors_about_half_the_images_left_right():
    x = images(400)
    out = batch_flip(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(out[i], x[i].flip(-1)) for i in range(len(x))]
    kept = [torch.equal(out[i], x[i]) for i in range(len(x))]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 150 < sum(flipped) < 250


def test_normalize_scales_and_standardises_per_channel():
    x = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    out = normalize(x)
    for c in range(3):
        assert torch.allclose(out[:, c], torch.tensor((1 - MEAN[c]) / STD[c]))
    assert out.dtype == torch.float32


def test_train_augment_crops_flips_then_normalises_each_image():
    x = images(64)
    aug = TrainAugment(AugmentConfig(crop_padding=4, flip=True), torch.Generator().manual_seed(0))
    out = augment_batch(aug, x)
    assert out.shape == (64, 3, 32, 32) and out.dtype == torch.float32
    # Each image is the normalised 32x32 window of its zero-padded copy at some offset, mirrored or not
    # (normalising is per pixel, so the window of the normalised padded image is the same thing).
    padded = normalize(F.pad(x, (4, 4, 4, 4)))
    mirrored = []
    for i in range(len(x)):
        found = [flip for dy in range(9) for dx in range(9) for flip in (False, True)
                 if torch.equal(out[i], padded[i, :, dy:dy + 32, dx:dx + 32].flip(-1) if flip
                                else padded[i, :, dy:dy + 32, dx:dx + 32])]
        assert found, f"image {i} is not a normalised (mirrored) window of its padded copy"
        mirrored.append(found[0])
    assert 10 < sum(mirrored) < 54  # both kinds, about half each
    plain = TrainAugment(AugmentConfig(crop_padding=0, flip=False), torch.Generator())
    assert torch.equal(augment_batch(plain, images(16)), normalize(images(16)))


@pytest.mark.parametrize("augment", [
    lambda x, g: batch_crop(x, 4, g), batch_flip, lambda x, g: batch_cutout(x, 8, g),
    # the composition: it must hand the run's generator on to each of its three steps
    lambda x, g: augment_batch(TrainAugment(AugmentConfig(crop_padding=4, flip=True, cutout=8), g), x),
], ids=["crop", "flip", "cutout", "train_augment"])
def test_each_augmentation_draws_from_the_runs_generator_alone(augment):
    """A run's batches are reproducible from its seed and its checkpointed generator: torch's global
    generator must not matter, and another seed must give other draws."""
    x = images(64)
    torch.manual_seed(1)
    first = augment(x, torch.Generator().manual_seed(0))
    torch.manual_seed(2)
    assert torch.equal(augment(x, torch.Generator().manual_seed(0)), first)
    assert not torch.equal(augment(x, torch.Generator().manual_seed(1)), first)


# --- MixUp and Cutout (Stage 5) ----------------------------------------------------------------------

def test_mixup_targets_span_every_class_in_the_images_dtype():
    x, y = torch.randn(8, 3, 4, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    torch.manual_seed(0)
    mixed, target = mix_batch(MixUp(1.0, torch.Generator().manual_seed(0)), x, y)
    # Ten columns although this batch has classes 0-3 only, and the images' precision throughout.
    assert target.shape == (8, 10) and target.dtype == mixed.dtype == torch.float64
    assert bool((target[:, 4:] == 0).all()) and torch.allclose(target.sum(1), torch.ones(8, dtype=torch.float64))


def test_mixup_targets_sum_to_one_and_are_the_convex_combination_of_the_images_labels():
    x, y = torch.randn(16, 3, 32, 32), torch.arange(16) % 10
    torch.manual_seed(0)
    mixed, target = mix_batch(MixUp(0.4, torch.Generator().manual_seed(1)), x, y)
    # The same draws by hand: lambda from the global generator, the pairing from the run's generator.
    torch.manual_seed(0)
    lam = float(torch.distributions.Beta(torch.tensor(0.4), torch.tensor(0.4)).sample())
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(1))
    assert 0 < lam < 1 and not torch.equal(perm, torch.arange(16))
    torch.testing.assert_close(target.sum(1), torch.ones(16))
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[perm])
    torch.testing.assert_close(target, lam * F.one_hot(y, 10).float() + (1 - lam) * F.one_hot(y[perm], 10).float())


def test_mixup_lambda_follows_beta_alpha():
    torch.manual_seed(1)
    mix = MixUp(0.2, torch.Generator().manual_seed(0))
    x, y = torch.zeros(2, 3, 4, 4), torch.tensor([0, 1])
    # When the pairing swaps the two images, image 0's target is [lambda, 1 - lambda]; otherwise it is
    # mixed with itself ([1, 0]) and says nothing about lambda.
    targets = [mix_batch(mix, x, y)[1][0] for _ in range(4000)]
    weights = np.array([t[0].item() for t in targets if t[1] > 0])
    assert len(weights) > 1500
    # Beta(0.2, 0.2) is U-shaped and symmetric: mean 1/2, most draws near 0 or 1 (uniform would put 20% there).
    assert abs(weights.mean() - 0.5) < 0.05 and ((weights < 0.1) | (weights > 0.9)).mean() > 0.6


def _expected_cutout(h, w, cy, cx, size):
    mask = torch.zeros(h, w, dtype=torch.bool)
    mask[max(0, cy - size // 2):min(h, cy - size // 2 + size),
         max(0, cx - size // 2):min(w, cx - size // 2 + size)] = True
    return mask


@pytest.mark.parametrize("size", [16, 7, 1])
def test_cutout_zeroes_exactly_the_clipped_square_and_nothing_else(size):
    x = torch.randn(200, 3, 32, 32).abs() + 0.1  # no zeros before
    out = batch_cutout(x, size, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)  # the same draws, in the same order, as batch_cutout makes
    cy, cx = torch.randint(0, 32, (200, 1), generator=g), torch.randint(0, 32, (200, 1), generator=g)
    clipped = 0
    for i in range(200):
        mask = _expected_cutout(32, 32, int(cy[i]), int(cx[i]), size)
        assert bool((out[i][:, mask] == 0).all()) and torch.equal(out[i][:, ~mask], x[i][:, ~mask]), i
        clipped += int(mask.sum()) < size * size
    assert size == 1 or clipped > 0  # some squares reach over the border and are clipped


def test_cutout_is_applied_after_normalisation_so_the_square_is_the_mean_pixel():
    aug = TrainAugment(AugmentConfig(crop_padding=0, flip=False, cutout=8), torch.Generator().manual_seed(0))
    x = torch.full((4, 3, 32, 32), 255, dtype=torch.uint8)
    out = augment_batch(aug, x)
    zeros = (out == 0).all(1)  # [B, H, W]
    assert bool((zeros.sum((1, 2)) > 0).all()) and bool((zeros.sum((1, 2)) <= 64).all())


@pytest.mark.parametrize("cfg", [AugmentConfig(crop_padding=4, flip=True, cutout=8),
                                 AugmentConfig(crop_padding=2, flip=False, cutout=0),
                                 AugmentConfig(crop_padding=0, flip=True, cutout=4)],
                         ids=["all", "crop only", "flip and cutout"])
def test_train_augment_draws_each_enabled_augmentation_in_its_fixed_order_and_nothing_else(cfg):
    """The order of draws is what makes an epoch drawn at once equal its batches drawn one by one, and a
    run reproducible from its checkpointed generator: crop rows, crop columns, flips, Cutout rows, Cutout
    columns, each only when on."""
    draws = TrainAugment(cfg, torch.Generator().manual_seed(7)).draw(64)
    g = torch.Generator().manual_seed(7)
    crop = (torch.randint(0, 2 * cfg.crop_padding + 1, (64,), generator=g),
            torch.randint(0, 2 * cfg.crop_padding + 1, (64,), generator=g)) if cfg.crop_padding else None
    flip = torch.rand(64, generator=g) < 0.5 if cfg.flip else None
    cutout = (torch.randint(0, 32, (64, 1), generator=g), torch.randint(0, 32, (64, 1), generator=g)) \
        if cfg.cutout else None
    for got, want in ((draws.crop, crop), (draws.cutout, cutout)):
        assert (got is None) == (want is None) and (want is None or all(map(torch.equal, got, want)))
    assert (draws.flip is None) == (flip is None) and (flip is None or torch.equal(draws.flip, flip))
    if crop is not None:
        assert len(set(crop[0].tolist())) > 1  # offsets that vary: the crop really moves the window
