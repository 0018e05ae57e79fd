"""The deep trainer's learning-rate schedule (torch's LambdaLR) and the split of base.py."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hamsearch.encoders.deep import LatentLayerHash  # noqa: E402
from hamsearch.encoders.deep.training import cosine_factor, cosine_schedule  # noqa: E402


def _old_lr(base_lr, step, total_steps):
    """The hand-written schedule the trainer used before torch's schedulers."""
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))


def _lrs(opt, sched, steps):
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("total", [1, 7, 40])
def test_cosine_schedule_equals_the_old_formula(total):
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.Adam([p], lr=3e-3)
    sched = cosine_schedule(opt, 3e-3, total)
    got = _lrs(opt, sched, total)
    assert got == [_old_lr(3e-3, s, total) for s in range(total)]
    assert cosine_factor(0, total) == 1.0


def test_resumed_schedule_continues_where_it_stopped():
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.Adam([p], lr=1e-3)
    full = _lrs(opt, cosine_schedule(opt, 1e-3, 12), 12)
    # a resumed stage: a fresh optimiser (its saved state loaded), the schedule from step 8
    opt2 = torch.optim.Adam([p], lr=1e-3)
    opt2.load_state_dict(opt.state_dict())
    assert _lrs(opt2, cosine_schedule(opt2, 1e-3, 12, start_step=8), 4) == full[8:]


def test_training_uses_the_old_per_step_rates(monkeypatch):
    """Every optimiser step of a real (tiny) fit runs at the old formula's rate."""
    seen = []
    real_step = torch.optim.Adam.step

    def recording_step(self, *a, **k):
        seen.append(self.param_groups[0]["lr"])
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 8, 8), dtype=np.uint8)
    y = np.arange(40) % 4
    # 40 images, batches of 16: steps of 16, 16, 8 -> 3 steps per epoch, 6 in all
    LatentLayerHash(nbits=8, verbose=False).fit(x, y, epochs=2, batch_size=16, lr=2e-3,
                                                device="cpu")
    assert seen == [_old_lr(2e-3, s, 6) for s in range(6)]


def test_base_module_keeps_its_old_names():
    """Code (and tests) that imported from deep.base still find the names."""
    from hamsearch.encoders.deep import base

    for name in ("DeepHashModel", "EncoderMixin", "HashNet", "Stage", "FORMAT",
                 "FORMAT_VERSION", "resolve_device", "unit_rows"):
        assert hasattr(base, name), name
