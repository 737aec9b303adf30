import pytest

from forecast.config import DEFAULT_QUANTILES, ForecastConfig, ModelConfig
from forecast.errors import UsageError


def test_quantiles_round_trip_through_json():
    config = ForecastConfig(model=ModelConfig(quantiles=list(DEFAULT_QUANTILES))).validate()
    again = ForecastConfig.from_json(config.to_json())
    assert again.model.quantiles == [0.1, 0.5, 0.9]
    assert ForecastConfig().model.quantiles == []       # the point model, as before


@pytest.mark.parametrize("levels,message", [
    ([0.1, 0.9], "include 0.5"),
    ([0.5, 0.1], "strictly increasing"),
    ([0.1, 0.5, 0.5], "strictly increasing"),
    ([0.0, 0.5], "between 0 and 1"),
    ([0.5, 1.2], "between 0 and 1"),
])
def test_bad_quantiles_name_the_flag(levels, message):
    with pytest.raises(UsageError, match=f"--quantiles must.*{message}"):
        ForecastConfig(model=ModelConfig(quantiles=levels)).validate()
