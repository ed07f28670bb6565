from dataclasses import replace

import pytest
import torch

from tuner.config.schema import ModelConfig
from tuner.networks.models import LSTMForecaster, LSTMTransformerForecaster, build_model


@pytest.mark.parametrize("kind", ["lstm", "lstm_transformer"])
@pytest.mark.parametrize("horizon", [1, 4, 7])
def test_forward_shape(kind, horizon):
    config = ModelConfig(kind=kind, n_inputs=6, horizon=horizon, hidden_size=16, num_layers=2, num_heads=4, ff_size=32)
    model = build_model(config)
    assert model(torch.randn(5, 28, 6)).shape == (5, horizon)


def test_model_types_and_their_parts():
    lstm = build_model(ModelConfig(kind="lstm", n_inputs=3, horizon=1, num_layers=2, dropout=0.2))
    assert type(lstm) is LSTMForecaster and lstm.lstm.dropout == 0.2
    single = build_model(ModelConfig(kind="lstm", n_inputs=3, horizon=1, num_layers=1, dropout=0.2))
    assert single.lstm.dropout == 0.0  # torch applies LSTM dropout only between layers
    hybrid = build_model(ModelConfig(kind="lstm_transformer", n_inputs=3, horizon=1, hidden_size=8, num_heads=2, ff_size=24))
    assert type(hybrid) is LSTMTransformerForecaster
    layer = hybrid.encoder.layers[0]
    assert layer.self_attn.num_heads == 2 and layer.linear1.out_features == 24 and layer.self_attn.batch_first


@pytest.mark.parametrize("kind", ["lstm", "lstm_transformer"])
def test_window_scaling_follows_the_level_and_spread_of_each_window(kind):
    """RevIN-style: shifting a window's target history shifts its forecast by the same amount,
    and stretching it stretches the forecast; the network never sees the level itself."""
    torch.manual_seed(0)
    config = ModelConfig(kind=kind, n_inputs=3, horizon=2, hidden_size=8, num_heads=2, ff_size=16, scaling="window")
    model = build_model(config).eval()
    inputs = torch.randn(4, 10, 3)
    shifted, stretched = inputs.clone(), inputs.clone()
    shifted[:, :, -1] += 5.0
    stretched[:, :, -1] = 3.0 * (stretched[:, :, -1] - 1.0)
    with torch.no_grad():
        base = model(inputs)
        torch.testing.assert_close(model(shifted), base + 5.0, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(model(stretched), 3.0 * (base - 1.0), rtol=1e-4, atol=1e-4)
        flat = inputs.clone()
        flat[:, :, -1] = 2.0
        assert torch.isfinite(model(flat)).all()
    global_model = build_model(ModelConfig(kind=kind, n_inputs=3, horizon=2, hidden_size=8, num_heads=2, ff_size=16))
    with torch.no_grad():
        assert not torch.allclose(global_model(shifted), global_model(inputs) + 5.0, atol=1e-2)


@pytest.mark.parametrize("kind", ["lstm", "lstm_transformer"])
def test_levelled_features_ignore_a_shift_of_their_level(kind):
    """`data.feature_scaling = "level"`: moving a feature's whole window (and, for a planned one,
    its values for the forecast steps) by a constant leaves the forecast as it was; a column
    that is not levelled, and a levelled one moved in its history alone, change it."""
    torch.manual_seed(0)
    config = ModelConfig(kind=kind, n_inputs=4, horizon=2, hidden_size=8, num_heads=2, ff_size=16, scaling="level",
                         known_columns=(1, 2), levelled_columns=(0, 1))  # 0: past only, 1: planned, 2: calendar
    model = build_model(config).eval()
    inputs, future = torch.randn(4, 10, 4), torch.randn(4, 2, 2)
    with torch.no_grad():
        base = model(inputs, future)
        shifted, planned = inputs.clone(), future.clone()
        shifted[:, :, :2] += torch.tensor([3.0, -2.0])
        planned[:, :, 0] -= 2.0
        torch.testing.assert_close(model(shifted, planned), base, rtol=1e-4, atol=1e-4)
        assert not torch.allclose(model(shifted, future), base, atol=1e-3)  # the plan did not move with its history
        calendar = inputs.clone()
        calendar[:, :, 2] += 3.0
        assert not torch.allclose(model(calendar, future + torch.tensor([0.0, 3.0])), base, atol=1e-3)
    unlevelled = build_model(replace(config, levelled_columns=()))
    unlevelled.load_state_dict(model.state_dict())  # the mask is no weight: old model directories still load
    with torch.no_grad():
        assert not torch.allclose(unlevelled.eval()(shifted, planned), base, atol=1e-3)


def test_level_scaling_follows_the_level_but_keeps_the_spread():
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="lstm", n_inputs=3, horizon=2, hidden_size=8, scaling="level")).eval()
    inputs = torch.randn(4, 10, 3)
    shifted = inputs.clone()
    shifted[:, :, -1] += 5.0
    with torch.no_grad():
        torch.testing.assert_close(model(shifted), model(inputs) + 5.0, rtol=1e-4, atol=1e-4)
        stretched = inputs.clone()
        stretched[:, :, -1] *= 3.0
        assert not torch.allclose(model(stretched), 3.0 * model(inputs), atol=1e-2)
