import logging
import math

import pytest
import torch
from toy_tasks import ADAPTED, BASE, make_loss, make_model, task_samples, to_task

from tts_maml.config import MamlConfig
from tts_maml.meta.episodes import EpisodeSampler
from tts_maml.meta.learner import INNER_LRS_GROUP, MetaLearner, TaskBatch

LR = 0.1


def tasks(n=2, step=0):
    sampler = EpisodeSampler(task_samples(), n_support=4, n_query=4, seed=1)
    return [to_task(e) for e in sampler.sample(step, n)]


def learner(algorithm="maml", steps=2, **kw):
    model = make_model()
    config = MamlConfig(algorithm=algorithm, inner_steps=steps, inner_lr=LR, inner_grad_clip=0, outer_grad_clip=0, **kw)
    return model, MetaLearner(model, config, ADAPTED, make_loss(model))


def grads_of(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def meta_objective(model, params, task_list, steps):
    """Mean query loss after `steps` unrolled SGD steps, as a plain function of all parameters."""
    loss_fn = make_loss(model)
    total = 0.0
    for t in task_list:
        fast = {n: params[n] for n in ADAPTED}
        for _ in range(steps):
            inner = loss_fn({**params, **fast}, t.support)
            gs = torch.autograd.grad(inner, [fast[n] for n in ADAPTED], create_graph=True)
            fast = {n: fast[n] - LR * g for n, g in zip(ADAPTED, gs)}
        total = total + loss_fn({**params, **fast}, t.query)
    return total / len(task_list)


def test_maml_matches_central_finite_differences():
    model, ml = learner("maml", steps=2)
    task_list = tasks(2)
    ml.meta_gradient(task_list, step=0)
    analytic = grads_of(model)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    eps = 1e-6
    for name in ADAPTED + BASE:
        flat = base[name].view(-1)
        for i in range(flat.numel()):
            values = []
            for sign in (1, -1):
                p = {n: t.clone() for n, t in base.items()}
                p[name].view(-1)[i] += sign * eps
                p = {n: t.requires_grad_(True) for n, t in p.items()}  # leaves again
                values.append(meta_objective(model, p, task_list, 2).item())
            numeric = (values[0] - values[1]) / (2 * eps)
            assert analytic[name].view(-1)[i].item() == pytest.approx(numeric, rel=1e-5, abs=1e-7), (name, i)


def test_maml_matches_a_hand_unrolled_two_step_inner_loop():
    model, ml = learner("maml", steps=2)
    task_list = tasks(3)
    ml.meta_gradient(task_list, step=0)
    analytic = grads_of(model)
    params = dict(model.named_parameters())
    objective = meta_objective(model, params, task_list, 2)
    expected = dict(zip(params, torch.autograd.grad(objective, list(params.values()))))
    for name in params:
        torch.testing.assert_close(analytic[name], expected[name], rtol=1e-10, atol=1e-12)


def test_second_order_reaches_base_parameters_through_the_inner_loop():
    model, ml = learner("maml")
    task_list = tasks(2)
    ml.meta_gradient(task_list, step=0)
    second = grads_of(model)
    model_fo, ml_fo = learner("fomaml")
    ml_fo.meta_gradient(task_list, step=0)
    first = grads_of(model_fo)
    for name in BASE:
        assert not torch.allclose(second[name], first[name]), name


def test_fomaml_is_the_query_gradient_at_the_fast_weights():
    model, ml = learner("fomaml", steps=3)
    task_list = tasks(2)
    ml.meta_gradient(task_list, step=0)
    analytic = grads_of(model)
    loss_fn = make_loss(model)
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    expected = {n: torch.zeros_like(t) for n, t in params.items()}
    for t in task_list:
        fast = {n: params[n].clone() for n in ADAPTED}
        for _ in range(3):
            f = {n: v.clone().requires_grad_(True) for n, v in fast.items()}
            gs = torch.autograd.grad(loss_fn({**params, **f}, t.support), list(f.values()))
            fast = {n: fast[n] - LR * g for n, g in zip(ADAPTED, gs)}
        at = {**params, **fast}
        at = {n: v.clone().requires_grad_(True) for n, v in at.items()}
        gs = torch.autograd.grad(loss_fn(at, t.query), list(at.values()))
        for n, g in zip(at, gs):
            expected[n] += g / len(task_list)
    for name in expected:
        torch.testing.assert_close(analytic[name], expected[name], rtol=1e-10, atol=1e-12)


def test_reptile_moves_the_initialisation_towards_the_fast_weights():
    model, ml = learner("reptile", steps=3)
    task_list = tasks(1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fast = ml.adapt(task_list[0].support, steps=3).fast
    eps = 0.5
    stats = ml.meta_step(task_list, torch.optim.SGD(ml.trainable_parameters(), lr=eps), step=0)
    assert not stats.skipped_step
    after = dict(model.named_parameters())
    for n in ADAPTED:  # theta <- theta + eps * (phi - theta)
        torch.testing.assert_close(after[n].detach(), before[n] + eps * (fast[n] - before[n]), rtol=1e-10, atol=1e-12)
    for n in BASE:
        assert torch.equal(after[n].detach(), before[n])
    assert ml.meta_parameters == ADAPTED


def test_metasgd_learns_per_tensor_per_step_rates():
    model, ml = learner("metasgd", steps=2)
    rates = ml.inner_lrs.as_dict()
    assert sorted(rates) == sorted(ADAPTED) and all(r.shape == (2,) for r in rates.values())
    task_list = tasks(2)
    ml.meta_gradient(task_list, step=0)
    analytic = {n: r.grad.clone() for n, r in rates.items()}
    # finite differences of the meta-objective with respect to one learned rate
    loss_fn = make_loss(model)
    params = {n: p.detach() for n, p in model.named_parameters()}

    def objective(lrs):
        total = 0.0
        for t in task_list:
            fast = {n: params[n].clone().requires_grad_(True) for n in ADAPTED}
            for s in range(2):
                gs = torch.autograd.grad(loss_fn({**params, **fast}, t.support), list(fast.values()), create_graph=True)
                fast = {n: fast[n] - lrs[n][s] * g for n, g in zip(ADAPTED, gs)}
            total += loss_fn({**params, **fast}, t.query).item()
        return total / len(task_list)

    eps = 1e-6
    for name in ADAPTED:
        for s in range(2):
            plus = {n: r.detach().clone() for n, r in rates.items()}
            minus = {n: r.detach().clone() for n, r in rates.items()}
            plus[name][s] += eps
            minus[name][s] -= eps
            numeric = (objective(plus) - objective(minus)) / (2 * eps)
            assert analytic[name][s].item() == pytest.approx(numeric, rel=1e-5, abs=1e-8)
    optimizer = torch.optim.SGD(ml.trainable_parameters(), lr=0.01)
    ml.meta_step(task_list, optimizer, step=0)
    assert any(not torch.allclose(r.detach(), torch.full((2,), LR, dtype=r.dtype)) for r in ml.inner_lrs.as_dict().values())
    assert set(ml.inner_lr_values()) == set(ADAPTED)


def test_meta_gradient_is_the_mean_over_tasks():
    task_list = tasks(3)
    model, ml = learner("maml")
    ml.meta_gradient(task_list, step=0)
    together = grads_of(model)
    separate = []
    for t in task_list:
        m, ml1 = learner("maml")
        ml1.meta_gradient([t], step=0)
        separate.append(grads_of(m))
    for name in together:
        torch.testing.assert_close(together[name], sum(s[name] for s in separate) / 3)


def test_first_order_warm_up_then_second_order():
    model, ml = learner("maml", first_order_warmup_steps=2)
    assert ml.is_first_order(0) and ml.is_first_order(1) and not ml.is_first_order(2)
    task_list = tasks(2)
    ml.meta_gradient(task_list, step=0)
    warm = grads_of(model)
    model_fo, ml_fo = learner("fomaml")
    ml_fo.meta_gradient(task_list, step=0)
    for name, g in grads_of(model_fo).items():
        torch.testing.assert_close(warm[name], g)
    stats = ml.meta_gradient(task_list, step=2)
    assert not stats.first_order


def test_adapt_changes_only_adapted_tensors_and_leaves_the_model_bit_identical():
    model, ml = learner("maml", steps=3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = ml.adapt(tasks(1)[0].support)
    assert sorted(result.fast) == sorted(ADAPTED)
    assert all(not torch.equal(result.fast[n], before[n]) for n in ADAPTED)
    for n, p in model.named_parameters():
        assert torch.equal(p.detach(), before[n]) and p.grad is None
    assert result.support_losses[-1] < result.support_losses[0]


def test_meta_gradient_leaves_parameters_untouched():
    model, ml = learner("maml")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ml.meta_gradient(tasks(2), step=0)
    for n, p in model.named_parameters():
        assert torch.equal(p.detach(), before[n])


def nan_task(task):
    x, y = task.support
    return TaskBatch(task.task, (x, y * float("nan")), task.query)


@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "reptile", "metasgd"])
def test_a_non_finite_task_is_skipped_and_the_others_still_update(algorithm, caplog):
    task_list = tasks(3)
    bad = [task_list[0], nan_task(task_list[1]), task_list[2]]
    model, ml = learner(algorithm)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with caplog.at_level(logging.WARNING):
        stats = ml.meta_step(bad, torch.optim.SGD(ml.trainable_parameters(), lr=0.1), step=0)
    assert stats.skipped_tasks == [task_list[1].task] and stats.tasks_used == 2 and not stats.skipped_step
    assert ml.skipped_tasks_total == 1
    assert task_list[1].task in caplog.text
    changed = [n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])]
    assert set(ADAPTED) <= set(changed)
    # the step equals the one the two good tasks give on their own
    model2, ml2 = learner(algorithm)
    ml2.meta_step([task_list[0], task_list[2]], torch.optim.SGD(ml2.trainable_parameters(), lr=0.1), step=0)
    for (n, p), (_, q) in zip(model.named_parameters(), model2.named_parameters()):
        torch.testing.assert_close(p, q)


def test_all_tasks_non_finite_skips_the_step():
    model, ml = learner("maml")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    stats = ml.meta_step([nan_task(t) for t in tasks(2)], torch.optim.SGD(ml.trainable_parameters(), lr=0.1), step=0)
    assert stats.skipped_step and math.isnan(stats.meta_loss) and ml.skipped_steps_total == 1
    for n, p in model.named_parameters():
        assert torch.equal(p.detach(), before[n])


def test_outer_clipping_bounds_the_meta_gradient():
    model = make_model()
    config = MamlConfig(inner_steps=2, inner_lr=LR, outer_grad_clip=1e-3)
    ml = MetaLearner(model, config, ADAPTED, make_loss(model))
    stats = ml.meta_gradient(tasks(2), step=0)
    total = math.sqrt(sum(float((p.grad**2).sum()) for p in ml.trainable_parameters()))
    assert stats.meta_grad_norm > 1e-3 and total == pytest.approx(1e-3, rel=1e-4)


def test_stats_report_adaptation():
    _, ml = learner("maml", steps=3)
    stats = ml.meta_gradient(tasks(4), step=0)
    assert len(stats.support_losses) == 3 and stats.support_losses[-1] < stats.support_losses[0]
    assert math.isfinite(stats.meta_loss) and math.isfinite(stats.query_before)
    assert stats.adaptation_gain == pytest.approx(stats.query_before - stats.meta_loss)


def test_unknown_adapted_name_is_refused():
    model = make_model()
    with pytest.raises(ValueError, match="'9.weight'"):
        MetaLearner(model, MamlConfig(), ["9.weight"], make_loss(model))


def _dict_tasks(start):
    """The toy tasks with dict batches whose support set starts ``2.bias`` at ``start``."""
    out = []
    for t in tasks(2):
        support = {"xy": t.support, "voice_start": {"2.bias": torch.tensor([start], dtype=torch.float64)}}
        out.append(TaskBatch(t.task, support, {"xy": t.query}))
    return out


def test_a_task_starts_its_voice_tensor_from_its_support_set_and_no_meta_gradient_reaches_it():
    model = make_model()
    toy = make_loss(model)
    config = MamlConfig(algorithm="maml", inner_steps=2, inner_lr=LR, inner_grad_clip=0, outer_grad_clip=0)
    ml = MetaLearner(model, config, ADAPTED, lambda params, batch: toy(params, batch["xy"]))
    task_list = _dict_tasks(5.0)
    assert ml.start_weights(task_list[0].support)["2.bias"].item() == 5.0
    assert ml.adapt(task_list[0].support, steps=0).fast["2.bias"].item() == 5.0
    # The second-order meta-gradient runs through the started tensor: the shared initialisation of
    # `2.bias` gets none (every task replaces it), every other parameter gets one.
    ml.meta_gradient(task_list, step=0)
    grads = grads_of(model)
    assert "2.bias" not in grads or torch.count_nonzero(grads["2.bias"]) == 0
    assert all(torch.count_nonzero(grads[n]) > 0 for n in BASE + ["2.weight"])


def test_parameter_groups_give_the_learned_rates_their_own_rate():
    model, ml = learner("maml")
    assert [g["params"] for g in ml.parameter_groups()] == [ml.trainable_parameters()]
    model, ml = learner("metasgd", inner_lr_meta_lr=0.05)
    weights, rates = ml.parameter_groups()
    assert weights["params"] + rates["params"] == ml.trainable_parameters() and "lr" not in weights
    assert rates["name"] == INNER_LRS_GROUP and rates["lr"] == 0.05
    assert "lr" not in learner("metasgd")[1].parameter_groups()[1]  # None: the optimiser's own rate


def test_metasgd_rates_below_zero_are_used_as_zero():
    model, ml = learner("metasgd", steps=1)
    with torch.no_grad():
        ml.inner_lrs.as_dict()["2.weight"].fill_(-1.0)
    before = dict(model.named_parameters())["2.weight"].detach().clone()
    fast = ml.adapt(tasks(1)[0].support, steps=1).fast
    assert torch.equal(fast["2.weight"], before)
    assert not torch.equal(fast["2.bias"], dict(model.named_parameters())["2.bias"].detach())


@pytest.mark.parametrize("redraw, expected", [(True, [7, 8, 9]), (False, [7, 7, 7])])
def test_adaptation_draws_anew_at_each_step(redraw, expected):
    model = make_model()
    toy = make_loss(model)
    seen = []

    def loss(params, batch):
        seen.append(batch["rng_seed"])
        return toy(params, batch["xy"])

    ml = MetaLearner(model, MamlConfig(inner_steps=3, inner_lr=LR), ADAPTED, loss)
    ml.adapt({"xy": tasks(1)[0].support, "rng_seed": 7}, steps=3, redraw=redraw)
    assert seen == expected


@pytest.mark.parametrize("algorithm", ["fomaml", "maml"])
def test_meta_learning_only_the_adapter_leaves_every_other_weight_as_it_was(algorithm):
    # What `maml.meta_learned = "adapter"` asks of the learner (tts_maml.backbones.base.Backbone.make_learner).
    model = make_model()
    config = MamlConfig(algorithm=algorithm, inner_steps=2, inner_lr=LR, inner_grad_clip=0, outer_grad_clip=0)
    ml = MetaLearner(model, config, ADAPTED, make_loss(model), meta_parameters=ADAPTED)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ml.meta_step(tasks(2), torch.optim.SGD(ml.trainable_parameters(), lr=0.1), step=0)
    after = dict(model.named_parameters())
    assert all(torch.equal(after[n], before[n]) for n in BASE)
    assert all(not torch.equal(after[n], before[n]) for n in ADAPTED)
