"""The numpy LSTM/GRU against PyTorch autograd and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from dse.cells import forward, init_network, loss_and_grads


def torch_twin(net, x: np.ndarray):
    """The same network in torch, weight for weight; returns (logits, parameters in order).
    Only the tests that compare with torch need it: the others run without."""
    torch = pytest.importorskip("torch")
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[net.cell]
    params, h = [], torch.tensor(x, dtype=torch.float64)
    for layer in net.layers:
        module = rnn(layer.weight_ih.shape[1], layer.weight_hh.shape[1], batch_first=True).double()
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(module, f"{name}_l0").copy_(torch.tensor(getattr(layer, name)))
        params += [module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0]
        h, _ = module(h)
    head = torch.nn.Linear(*net.head_weight.shape[::-1]).double()
    with torch.no_grad():
        head.weight.copy_(torch.tensor(net.head_weight))
        head.bias.copy_(torch.tensor(net.head_bias))
    return head(h[:, -1]), params + [head.weight, head.bias], torch


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("cells", [(5,), (6, 4), (3, 7, 5)])
def test_forward_and_gradients_equal_torch(cell: str, cells: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(cells))
    net = init_network(cell, 4, cells, 3, rng)
    x = rng.normal(size=(6, 11, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 2, 1, 0])
    logits, _ = forward(net, x)
    loss, grads = loss_and_grads(net, x, y)
    torch_logits, params, torch = torch_twin(net, x)
    torch_loss = torch.nn.functional.cross_entropy(torch_logits, torch.tensor(y))
    torch_loss.backward()
    np.testing.assert_allclose(logits, torch_logits.detach().numpy(), rtol=1e-4, atol=1e-6)
    assert loss == pytest.approx(torch_loss.item(), rel=1e-5)
    assert len(grads) == len(params)
    for ours, theirs in zip(grads, params):
        expected = theirs.grad.numpy()
        scale = np.abs(expected).max() + 1e-12
        assert np.abs(ours - expected).max() / scale < 1e-4


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradients_equal_finite_differences(cell: str) -> None:
    rng = np.random.default_rng(3)
    net = init_network(cell, 3, (4, 3), 2, rng)  # cast to float64 for clean differences
    net.layers = [type(layer)(*(a.astype(np.float64) for a in vars(layer).values()))
                  for layer in net.layers]
    net.head_weight = net.head_weight.astype(np.float64)
    net.head_bias = net.head_bias.astype(np.float64)
    x = rng.normal(size=(3, 7, 3))
    y = np.array([0, 1, 1])
    _, grads = loss_and_grads(net, x, y)
    eps = 1e-6
    for array, grad in zip(net.arrays(), grads):
        for index in list(np.ndindex(array.shape))[:: max(1, array.size // 6)]:
            saved = array[index]
            array[index] = saved + eps
            up, _ = loss_and_grads(net, x, y)
            array[index] = saved - eps
            down, _ = loss_and_grads(net, x, y)
            array[index] = saved
            assert grad[index] == pytest.approx((up - down) / (2 * eps), rel=1e-3, abs=1e-6)
