import pytest
import torch

from tts_maml.meta.inner_loop import NonFiniteError, detached, inner_loop


def quadratic(target):
    return lambda fast: ((fast["w"] - target) ** 2).sum()


def test_one_step_is_sgd():
    w = torch.tensor([1.0, -1.0], dtype=torch.float64, requires_grad=True)
    out = inner_loop(quadratic(torch.tensor([3.0, 3.0], dtype=torch.float64)), {"w": w}, steps=1, lr=0.1)
    torch.testing.assert_close(out.fast["w"], torch.tensor([1.4, -0.2], dtype=torch.float64))
    assert out.support_losses == [pytest.approx(4.0 + 16.0)]


def test_zero_steps_returns_init():
    w = torch.ones(2, requires_grad=True)
    out = inner_loop(quadratic(torch.zeros(2)), {"w": w}, steps=0, lr=0.1)
    assert out.fast["w"] is w and out.support_losses == []


def test_second_order_result_is_differentiable_and_first_order_is_identity():
    # f(w) = w^4 -> fast = w - lr * 4 w^3 ; d fast / dw = 1 - 12 lr w^2 (second order) or 1 (first order)
    w = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    loss = lambda fast: (fast["w"] ** 4).sum()  # noqa: E731
    second = inner_loop(loss, {"w": w}, steps=1, lr=0.01)
    (d2,) = torch.autograd.grad(second.fast["w"].sum(), w)
    assert d2.item() == pytest.approx(1 - 12 * 0.01)
    first = inner_loop(loss, {"w": w}, steps=1, lr=0.01, first_order=True)
    (d1,) = torch.autograd.grad(first.fast["w"].sum(), w)
    assert d1.item() == pytest.approx(1.0)


def test_per_step_learning_rates_are_used_and_learnable():
    w = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    lrs = {"w": torch.tensor([0.1, 0.2], dtype=torch.float64, requires_grad=True)}
    out = inner_loop(quadratic(torch.tensor([1.0], dtype=torch.float64)), {"w": w}, steps=2, lr=lrs)
    # step 1: w = 0 + 0.1 * 2 = 0.2 ; step 2: w = 0.2 + 0.2 * 2 * 0.8 = 0.52
    assert out.fast["w"].item() == pytest.approx(0.52)
    (g,) = torch.autograd.grad(out.fast["w"].sum(), lrs["w"])
    assert torch.all(g != 0)


def test_gradient_clipping():
    w = torch.tensor([0.0, 0.0], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([30.0, 40.0], dtype=torch.float64)  # gradient (-60, -80), norm 100
    out = inner_loop(quadratic(target), {"w": w}, steps=1, lr=1.0, grad_clip=10.0)
    torch.testing.assert_close(out.fast["w"], torch.tensor([6.0, 8.0], dtype=torch.float64), atol=1e-5, rtol=0)
    assert out.grad_norms == [pytest.approx(100.0)]


def test_unused_tensors_get_no_update():
    w, v = (torch.ones(1, requires_grad=True) for _ in range(2))
    out = inner_loop(lambda fast: (fast["w"] ** 2).sum(), {"w": w, "v": v}, steps=2, lr=0.1)
    assert torch.equal(out.fast["v"], v.detach())


def test_non_finite_loss_and_gradient_raise():
    w = torch.ones(1, requires_grad=True)
    with pytest.raises(NonFiniteError, match="support loss"):
        inner_loop(lambda fast: fast["w"].sum() * float("nan"), {"w": w}, steps=1, lr=0.1)
    with pytest.raises(NonFiniteError, match="gradient of w"):
        inner_loop(lambda fast: torch.sqrt(fast["w"] - 1).sum(), {"w": w}, steps=1, lr=0.1)


def test_detached_copies_do_not_reach_the_original():
    w = torch.ones(2, requires_grad=True)
    copy = detached({"w": w})["w"]
    assert copy.requires_grad and copy.grad_fn is None and copy.data_ptr() != w.data_ptr()
