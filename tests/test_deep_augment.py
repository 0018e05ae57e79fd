"""Training augmentation: shifts and flips against a brute-force reference, fit wiring."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hamsearch.encoders.deep import LatentLayerHash  # noqa: E402
from hamsearch.encoders.deep.augment import (  # noqa: E402
    make_augment,
    max_shift,
    random_hflip,
    random_shift,
)


def _shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Reference: img moved by (dy, dx) pixels (down/right positive), zeros shifted in."""
    c, h, w = img.shape
    out = np.zeros_like(img)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, yd, xd] = img[:, ys, xs]
    return out


@pytest.mark.parametrize("shape,shift", [((6, 1, 7, 5), 1), ((5, 3, 9, 9), 2), ((3, 2, 4, 6), 3)])
def test_random_shift_is_a_translation_with_zero_fill(shape, shift):
    torch.manual_seed(1)
    x = torch.rand(shape) + 0.5  # no zeros inside, so the fill is visible
    y = random_shift(x, shift).numpy()
    assert y.shape == shape and y.dtype == np.float32
    seen = set()
    for i in range(shape[0]):
        matches = [(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)
                   if np.array_equal(y[i], _shifted(x[i].numpy(), dy, dx))]
        assert len(matches) == 1, f"image {i} is not one translation of its input"
        seen.add(matches[0])
    assert len(seen) > 1  # offsets are drawn per image


def test_random_shift_is_seeded():
    x = torch.rand(8, 1, 10, 10)
    torch.manual_seed(3)
    a = random_shift(x, 2)
    torch.manual_seed(3)
    b = random_shift(x, 2)
    assert torch.equal(a, b)


def test_random_hflip_mirrors_about_half():
    torch.manual_seed(0)
    x = torch.rand(400, 2, 5, 6)
    y = random_hflip(x)
    same = [torch.equal(y[i], x[i]) for i in range(len(x))]
    mirrored = [torch.equal(y[i], x[i].flip(-1)) for i in range(len(x))]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 150 < sum(mirrored) < 250


def test_max_shift_scales_with_image_size():
    assert max_shift(28, 28) == 2 and max_shift(32, 32) == 2
    assert max_shift(8, 8) == 1 and max_shift(224, 224) == 18


def test_make_augment_names_and_errors():
    assert make_augment(None) is None
    fn = lambda b: b  # noqa: E731
    assert make_augment(fn) is fn
    x = torch.rand(4, 1, 12, 12)
    for name in ("shift", "flip", "shift+flip"):
        assert make_augment(name)(x).shape == x.shape
    for bad in ("rotate", "", 3, ["shift"]):
        with pytest.raises(ValueError, match="augment"):
            make_augment(bad)


@pytest.fixture(scope="module")
def small_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images[:300] * 16).clip(0, 255).astype(np.uint8)
    return images, d.target[:300].astype(np.int64)


def _weights(model):
    return [p.detach().clone() for p in model.net_.parameters()]


def test_fit_with_augment_is_reproducible_and_differs_from_plain(small_digits):
    images, labels = small_digits
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fit = lambda aug: LatentLayerHash(nbits=16, random_state=0).fit(  # noqa: E731
            images, labels, epochs=1, batch_size=64, augment=aug)
        a, b, plain = fit("shift+flip"), fit("shift+flip"), fit(None)
    finally:
        torch.set_num_threads(old)
    assert all(torch.equal(p, q) for p, q in zip(_weights(a), _weights(b)))
    assert not all(torch.equal(p, q) for p, q in zip(_weights(a), _weights(plain)))
    assert a.encode(images).shape == (len(images), 2)


def test_fit_rejects_bad_augment_before_training(small_digits):
    images, labels = small_digits
    model = LatentLayerHash(nbits=16, random_state=0)
    with pytest.raises(ValueError, match="augment"):
        model.fit(images, labels, epochs=1, augment="rotate")
    assert not hasattr(model, "net_")
    with pytest.raises(ValueError, match="augment must return"):
        model.fit(images, labels, epochs=1, augment=lambda b: b[:, :, :-1])


def test_plain_final_epochs(small_digits):
    images, labels = small_digits
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fit = lambda **kw: LatentLayerHash(nbits=16, random_state=0).fit(  # noqa: E731
            images, labels, epochs=2, batch_size=64, **kw)
        plain = fit()
        all_plain = fit(augment="shift", plain_final_epochs=2)
        half = fit(augment="shift", plain_final_epochs=1)
        aug = fit(augment="shift")
    finally:
        torch.set_num_threads(old)
    same = lambda a, b: all(torch.equal(p, q) for p, q in zip(_weights(a), _weights(b)))  # noqa: E731
    assert same(plain, all_plain)
    assert not same(half, plain) and not same(half, aug)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="plain_final_epochs"):
            LatentLayerHash(nbits=16).fit(images, labels, epochs=1, plain_final_epochs=bad)


def _flushes() -> bool:
    """Whether this thread flushes denormal floats to zero now."""
    return float(torch.tensor([1e-39], dtype=torch.float32)[0] * 1.0) == 0.0


def test_training_on_the_cpu_flushes_denormals_and_restores_the_default(small_digits):
    """Adam's moment estimates decay into the denormal range on long CPU
    runs, where every operation on them is ~200x slower (the compact net
    fell from 1,950 to 140 images/s over 6 Fashion-MNIST epochs): fit flushes
    denormals to zero while it trains, and switches that off again."""
    images, labels = small_digits
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush denormals")
    seen = []

    def probe(batch):  # runs inside the training loop
        seen.append(_flushes())
        return batch

    assert not _flushes()
    LatentLayerHash(nbits=16, random_state=0).fit(images, labels, epochs=1, batch_size=64,
                                                  augment=probe, device="cpu")
    assert seen and all(seen)
    assert not _flushes()
