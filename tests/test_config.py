import json

import pytest

from forecast.config import DEFAULT_QUANTILES, ForecastConfig, ModelConfig, TrainConfig
from forecast.errors import ModelDirError, UsageError


def test_quantiles_round_trip_through_json():
    config = ForecastConfig(model=ModelConfig(quantiles=list(DEFAULT_QUANTILES))).validate()
    again = ForecastConfig.from_json(config.to_json())
    assert again.model.quantiles == [0.1, 0.5, 0.9]
    assert ForecastConfig().model.quantiles == [0.1, 0.5, 0.9]   # quantiles by default


def test_a_format_2_config_reads_as_a_point_model_without_derived_inputs():
    raw = json.loads(ForecastConfig(columns=["Close"]).to_json())
    raw["format_version"] = 2
    del raw["model"]["quantiles"], raw["data"]["derived"], raw["data"]["extra"]
    old = ForecastConfig.from_dict(raw)
    assert old.model.quantiles == [] and old.data.derived == [] and old.inputs == ["Close"]


@pytest.mark.parametrize("change,message", [
    (lambda raw: raw["data"].update(derived=["vix"]), "'derived' should list"),
    (lambda raw: raw["model"].update(quantiles=[0.9, 0.1]), "strictly increasing"),
])
def test_a_damaged_config_is_a_model_dir_error(change, message):
    raw = json.loads(ForecastConfig(columns=["Close"]).to_json())
    change(raw)
    with pytest.raises(ModelDirError, match=f"config.json is damaged.*{message}"):
        ForecastConfig.from_dict(raw)


def test_a_quantile_model_refuses_a_point_loss():
    with pytest.raises(UsageError, match="--loss mse is for point models"):
        ForecastConfig(training=TrainConfig(loss="mse")).validate()
    ForecastConfig(model=ModelConfig(quantiles=[]), training=TrainConfig(loss="mse")).validate()


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


def test_a_config_without_the_levers_reads_with_them_off():
    raw = json.loads(ForecastConfig(columns=["Close"]).to_json())
    for key in ("l1", "l2", "attention"):
        del raw["model"][key]
    del raw["training"]["clipnorm"], raw["training"]["clipvalue"]
    old = ForecastConfig.from_dict(raw)
    assert (old.model.l1, old.model.l2, old.model.attention) == (0.0, 0.0, False)
    assert old.training.clipnorm is None and old.training.clipvalue is None


def test_the_levers_round_trip_through_json():
    config = ForecastConfig(model=ModelConfig(l1=1e-5, l2=1e-4, attention=True),
                            training=TrainConfig(clipnorm=1.0)).validate()
    again = ForecastConfig.from_json(config.to_json())
    assert (again.model.l1, again.model.l2, again.model.attention) == (1e-5, 1e-4, True)
    assert again.training.clipnorm == 1.0 and again.training.clipvalue is None


@pytest.mark.parametrize("section,key,value,message", [
    ("model", "l2", -1e-4, "'l2' must be 0 or more"),
    ("model", "l1", -1, "'l1' must be 0 or more"),
    ("model", "attention", 1, "'attention' should be bool"),
    ("training", "clipnorm", 0, "'clipnorm' must be above 0"),
    ("training", "clipvalue", -0.5, "'clipvalue' must be above 0"),
], ids=["l2", "l1", "attention", "clipnorm", "clipvalue"])
def test_a_lever_out_of_bounds_in_config_json_is_damage(section, key, value, message):
    raw = json.loads(ForecastConfig(columns=["Close"]).to_json())
    raw[section][key] = value
    with pytest.raises(ModelDirError, match=f"config.json is damaged \\({message}"):
        ForecastConfig.from_dict(raw)


@pytest.mark.parametrize("training,message", [
    (TrainConfig(clipnorm=0.0), "--clipnorm must be above 0, got 0.0"),
    (TrainConfig(clipvalue=-1.0), "--clipvalue must be above 0"),
    (TrainConfig(clipnorm=1.0, clipvalue=1.0), "are both given"),
], ids=["clipnorm-0", "clipvalue-negative", "both"])
def test_bad_clipping_names_the_flag(training, message):
    with pytest.raises(UsageError, match=message):
        ForecastConfig(training=training).validate()
