import pytest
import torch

from tuner.config import ModelConfig
from tuner.models import LSTMForecaster, LSTMTransformerForecaster, build_model


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
