"""tts_maml.meta.joint_training: one ordinary step on the mean task loss of several tasks."""

import torch

from tts_maml.meta.joint_training import joint_step


def _loss(model):
    return lambda params, batch: ((torch.func.functional_call(model, params, (batch[0],)) - batch[1]) ** 2).mean()


def test_joint_step_is_one_step_on_the_mean_of_the_tasks_losses():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    batches = [(torch.randn(4, 2), torch.randn(4, 1)) for _ in range(3)]
    twin = torch.nn.Linear(2, 1)
    twin.load_state_dict(model.state_dict())
    loss = joint_step(model, _loss(model), batches, torch.optim.SGD(model.parameters(), lr=0.1), grad_clip=0)
    # The same step by hand: the mean of the three losses, one SGD step.
    mean = sum(_loss(twin)(dict(twin.named_parameters()), b) for b in batches) / 3
    assert abs(loss - float(mean.detach())) < 1e-6
    mean.backward()
    with torch.no_grad():
        for p, q in zip(model.parameters(), twin.parameters()):
            assert torch.allclose(p, q - 0.1 * q.grad, atol=1e-6)


def test_joint_step_trains_only_the_parameters_given_and_clips_their_gradient():
    model = torch.nn.Linear(2, 1)
    bias = model.bias.detach().clone()
    weight = model.weight.detach().clone()
    batches = [(torch.full((4, 2), 10.0), torch.full((4, 1), -100.0))]
    optimizer = torch.optim.SGD([model.weight], lr=1.0)
    joint_step(model, _loss(model), batches, optimizer, grad_clip=0.5, parameters=[model.weight])
    assert torch.equal(model.bias, bias)
    assert abs(float((model.weight - weight).norm()) - 0.5) < 1e-5  # a step of the clipped norm
    assert model.weight.grad is None and model.bias.grad is None  # cleared, and none computed for the bias
