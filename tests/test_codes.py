"""pack / unpack / as_words against numpy's own bit routines."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import hamsearch
from hamsearch.codes import as_words, check_nbits, n_words, words_to_bytes

NBITS = [8, 16, 24, 56, 64, 72, 128, 200, 256, 512, 1024]


@settings(max_examples=60, deadline=None)
@given(nbits=st.sampled_from(NBITS), n=st.integers(0, 40), seed=st.integers(0, 2**31))
def test_three_layouts_agree(nbits, n, seed):
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(n, nbits), dtype=np.uint8)
    packed = hamsearch.pack(bits)
    assert packed.shape == (n, nbits // 8) and packed.dtype == np.uint8
    # little-endian within each byte: bit j -> byte j // 8, position j % 8
    expected = np.zeros((n, nbits // 8), dtype=np.uint8)
    for j in range(nbits):
        expected[:, j // 8] |= (bits[:, j] << (j % 8)).astype(np.uint8)
    np.testing.assert_array_equal(packed, expected)
    w_from_bytes = as_words(packed, nbits)
    w_from_bits = as_words(bits, nbits)
    w_from_bool = as_words(bits.astype(bool), nbits)
    w_from_words = as_words(w_from_bytes, nbits)
    assert w_from_bytes.shape == (n, n_words(nbits)) and w_from_bytes.dtype == np.uint64
    for w in (w_from_bits, w_from_bool, w_from_words):
        np.testing.assert_array_equal(w, w_from_bytes)
    np.testing.assert_array_equal(words_to_bytes(w_from_bytes, nbits), packed)
    np.testing.assert_array_equal(hamsearch.unpack(packed, nbits), bits)
    np.testing.assert_array_equal(hamsearch.unpack(w_from_words, nbits), bits)


def test_uint8_of_packed_width_is_packed_even_when_it_could_be_bits():
    # 8-bit codes: a uint8 (n, 1) array is packed bytes, never one unpacked bit.
    codes = np.array([[5], [255]], dtype=np.uint8)
    np.testing.assert_array_equal(as_words(codes, 8)[:, 0], [5, 255])


def test_single_code_1d_is_accepted():
    code = np.arange(16, dtype=np.uint8)
    assert as_words(code, 128).shape == (1, 2)


@pytest.mark.parametrize("nbits", [0, -8, 7, 12, 1 << 17])
def test_bad_nbits(nbits):
    with pytest.raises(ValueError, match="nbits"):
        check_nbits(nbits)


def test_nbits_type():
    with pytest.raises(TypeError):
        check_nbits(64.0)
    with pytest.raises(TypeError):
        check_nbits(True)


@pytest.mark.parametrize(
    "arr, exc",
    [
        (np.zeros((3, 8), dtype=np.float32), TypeError),
        (np.full((3, 64), np.nan), TypeError),
        (np.zeros((3, 7), dtype=np.uint8), ValueError),
        (np.zeros((3, 2), dtype=np.uint64), ValueError),
        (np.full((3, 64), 2, dtype=np.int64), ValueError),
        (np.zeros((2, 3, 8), dtype=np.uint8), ValueError),
        (np.array(["a"] * 8).reshape(1, 8), TypeError),
    ],
)
def test_bad_codes_name_the_argument(arr, exc):
    with pytest.raises(exc, match="codes"):
        as_words(arr, 64, "codes")


def test_uint64_padding_bits_must_be_zero():
    words = np.array([[1 << 40]], dtype=np.uint64)  # bit 40 set, nbits = 32
    with pytest.raises(ValueError, match="beyond nbits"):
        as_words(words, 32)
    assert as_words(np.array([[1 << 31]], dtype=np.uint64), 32)[0, 0] == 1 << 31


def test_non_contiguous_views_are_made_contiguous():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(10, 32), dtype=np.uint8)
    view = base[::2, ::2]  # (5, 16) non-contiguous -> 128-bit codes
    np.testing.assert_array_equal(as_words(view, 128), as_words(view.copy(), 128))


def test_pack_rejects_non_bits():
    with pytest.raises(ValueError):
        hamsearch.pack(np.full((1, 8), 3))
    with pytest.raises(TypeError):
        hamsearch.pack(np.zeros((1, 8), dtype=np.float64))
    with pytest.raises(ValueError, match="nbits"):
        hamsearch.pack(np.zeros((1, 8), dtype=np.uint8), nbits=16)


def test_hamming_distances_small_case():
    a = np.array([[0b1011]], dtype=np.uint8)
    b = np.array([[0], [255], [0b1011]], dtype=np.uint8)
    np.testing.assert_array_equal(hamsearch.hamming_distances(a, b), [[3, 5, 0]])
    with pytest.raises(ValueError, match="nbits"):
        hamsearch.hamming_distances(a.astype(np.uint64), b.astype(np.uint64))
