from __future__ import annotations

import numpy as np

from export.print_augment import (paste_print, paste_print_masked, random_dihedral, random_string, render_code,
                                  render_text,
                                  render_text_truetype)

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # the tests' font (fonts-dejavu-core)


def test_paste_is_deterministic_and_changes_only_a_patch():
    frame = np.full((192, 192, 3), 90, np.uint8)
    a = paste_print(frame, np.random.default_rng(4))
    b = paste_print(frame, np.random.default_rng(4))
    assert np.array_equal(a, b) and a.shape == frame.shape and a.dtype == np.uint8
    changed = np.any(a != frame, axis=-1)
    assert 0 < changed.mean() < 0.9


def test_rendered_codes_decode_and_text_has_contrast():
    import cv2

    decoded = 0
    for seed in range(8):
        code = render_code(np.random.default_rng(seed))
        big = cv2.resize((code * 255).astype(np.uint8), None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
        decoded += bool(cv2.QRCodeDetector().detectAndDecode(big)[0])
        patch = render_text(np.random.default_rng(seed))
        assert patch.max() - patch.min() > 0.1
    assert decoded >= 5, f"only {decoded} of 8 rendered codes decode even before any degradation"
    assert all(random_string(np.random.default_rng(s)).strip() for s in range(50))


def test_big_patches_are_shrunk_to_fit_small_crops():
    out = paste_print(np.zeros((40, 40, 3), np.uint8), np.random.default_rng(0))
    assert out.shape == (40, 40, 3)


def test_mask_covers_exactly_what_the_paste_changed():
    frame = np.full((192, 192, 3), 90, np.uint8)
    for seed in range(6):
        out, mask = paste_print_masked(frame, np.random.default_rng(seed), (FONT,))
        assert mask.shape == frame.shape[:2] and mask.dtype == np.float32 and 0 <= mask.min() and mask.max() <= 1
        changed = np.any(out != frame, axis=-1)
        assert changed.any() and (mask[changed] > 0).all()  # nothing changed outside the mask
    plain = paste_print(frame, np.random.default_rng(4))
    assert np.array_equal(plain, paste_print_masked(frame, np.random.default_rng(4))[0])  # same draws as before


def test_truetype_text_is_set_at_camera_scale_with_ink_contrast():
    import cv2

    for seed in range(6):
        rng = np.random.default_rng(seed)
        patch = render_text_truetype(rng, FONT)
        assert patch.ndim == 3 and patch.shape[2] == 3 and 0 <= patch.min() and patch.max() <= 1
        assert 10 <= patch.shape[0] <= 110  # one or two lines of 7-24 px glyphs with margins
        grey = cv2.cvtColor(patch.astype(np.float32), cv2.COLOR_RGB2GRAY)
        assert grey.max() - grey.min() > 0.1


def test_dihedral_turns_each_patch_into_one_of_the_eight_symmetries_uniformly():
    patch = np.arange(2 * 3 * 1, dtype=np.float64).reshape(2, 3, 1)  # no symmetry of its own
    rng = np.random.default_rng(0)
    counts: dict[bytes, int] = {}
    for _ in range(800):
        turned = random_dihedral(patch, rng)
        assert sorted(turned.ravel()) == sorted(patch.ravel())  # the same pixels, moved
        key = turned.tobytes() + bytes(turned.shape)
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 8
    assert min(counts.values()) > 60  # ~100 each


def test_dihedral_paste_changes_only_what_its_mask_covers():
    clean = np.full((96, 128, 3), 90, np.uint8)
    rng = np.random.default_rng(4)
    for _ in range(20):
        out, mask = paste_print_masked(clean, rng, dihedral=True)
        changed = np.abs(out.astype(int) - clean).max(axis=2) > 0
        assert changed.any() and (mask[changed] > 0).all()
