"""hamsearch.synthetic: seeded uniform and clustered code sets."""

import numpy as np
import pytest

import hamsearch
from hamsearch.synthetic import clustered_codes, uniform_codes


def test_uniform_codes_shape_seed_and_balance():
    a = uniform_codes(2000, 64, seed=4)
    assert a.shape == (2000, 8) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, uniform_codes(2000, 64, seed=4))
    assert not np.array_equal(a, uniform_codes(2000, 64, seed=5))
    ones = np.unpackbits(a, axis=1).mean()
    assert 0.48 < ones < 0.52
    with pytest.raises(ValueError):
        uniform_codes(10, 12)


def test_clustered_codes_flip_rate_and_labels():
    codes, centres, labels = clustered_codes(20_000, 128, ncenters=50, flip=0.1, seed=0,
                                             return_labels=True)
    assert codes.shape == (20_000, 16) and centres.shape == (50, 16)
    d = hamsearch.hamming_distances(codes, centres, 128)
    own = d[np.arange(len(codes)), labels]
    assert abs(own.mean() / 128 - 0.1) < 0.005
    same, _ = clustered_codes(20_000, 128, ncenters=50, flip=0.1, seed=0)
    np.testing.assert_array_equal(codes, same)


def test_clustered_codes_without_flips_copy_the_centre():
    codes, centres, labels = clustered_codes(500, 24, ncenters=7, flip=0.0, seed=1,
                                             return_labels=True)
    np.testing.assert_array_equal(codes, centres[labels])


def test_clustered_codes_given_labels_and_centres():
    centres = uniform_codes(4, 32, seed=2)
    labels = np.repeat(np.arange(4), 25)
    codes, out_centres = clustered_codes(100, 32, flip=0.0, centres=centres, labels=labels)
    np.testing.assert_array_equal(out_centres, centres)
    np.testing.assert_array_equal(codes, centres[labels])
    for bad in (labels[:-1], labels + 1, labels.astype(float)):
        with pytest.raises(ValueError, match="labels"):
            clustered_codes(100, 32, centres=centres, labels=bad)


def test_clustered_codes_flip_range_and_progress():
    seen = []
    codes, centres, labels = clustered_codes(
        100_000, 64, ncenters=200, flip=(0.02, 0.2), seed=3, return_labels=True,
        progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (100_000, 100_000) and len(seen) == 2  # chunks of 65,536
    rate = hamsearch.hamming_distances(codes, centres, 64)[np.arange(len(codes)), labels] / 64
    per_centre = np.bincount(labels, rate) / np.bincount(labels)
    assert 0.015 < per_centre.min() and per_centre.max() < 0.21
    assert per_centre.max() - per_centre.min() > 0.1
    with pytest.raises(ValueError, match="flip"):
        clustered_codes(10, 8, flip=1.5)
