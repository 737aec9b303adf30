"""Every option of the tool, as frozen dataclasses that round-trip through JSON.

One ``ForecastConfig`` travels from the command line through training into the model
directory's ``config.json``; ``predict`` rebuilds everything from it. It is read only: the
options build it (``options.training_options``), reading the data completes its data
section (``options.TrainingRequest.read``, ``windows.prepare_training``), and training and
the bundle writer add their ``TrainingFacts`` with ``dataclasses.replace``, never by
assignment. Also here: ``OPTION_BOUNDS``, the one table of numeric option bounds, and the
defaults with a meaning, once.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from forecast.errors import ModelDirError, UsageError

#: Version of the model-directory layout. Bump on incompatible changes; readers refuse newer.
#: 3: quantile outputs and derived volatility inputs by default, intervals.json, garch.json.
FORMAT_VERSION = 3

CELLS = ("lstm", "gru", "rnn")
TARGET_TRANSFORMS = ("level", "log-return")
MISSING_POLICIES = ("ffill", "drop", "error")
DEVICES = ("auto", "cpu", "gpu")
PRECISIONS = ("float32", "mixed")
STRATEGIES = ("auto", "one", "mirrored")
ENGINES = ("auto", "numpy", "keras")
LOSSES = ("mse", "mae", "huber")
#: Inputs derived from the raw columns beside the target's transform (transforms.py):
#: the absolute log-return of the target, and the log of High over Low, each row's own.
DERIVED = ("abs-return", "log-range")
#: The raw columns each derived input reads besides the target (matched case-insensitively).
DERIVED_SOURCES = {"abs-return": (), "log-range": ("High", "Low")}

DEFAULT_WINDOW = 20
DEFAULT_HORIZON = 1
DEFAULT_TEST_FRACTION = 0.2
DEFAULT_VAL_FRACTION = 0.1
DEFAULT_INTERVAL = 0.8
#: Quantile levels of the output head (``--quantiles``, on by default): the 80% interval
#: and the median, which is the point forecast.
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)
#: One-sided z for the baseline guard: the network must beat its starting forecast on
#: validation with a Diebold-Mariano statistic below -GUARD_Z (5% level) to be kept.
GUARD_Z = 1.645
#: Rows of history for the volatility that scales prediction intervals.
VOLATILITY_WINDOW = 20
#: The GARCH(1,1) baseline: the innovation distribution (Student-t: calibrated 80% intervals
#: on daily returns, see docs/quantiles.md) and the fewest training returns to fit it on.
GARCH_DIST = "t"
GARCH_MIN_RETURNS = 100
MODELS_DIR = "models"
#: ``plot --dpi``: its default, and bounds (below, nothing is legible; above, the figure's
#: pixels need gigabytes of memory).
DEFAULT_DPI = 100
DPI_RANGE = (20, 600)
#: ``--seed``: what NumPy's and TensorFlow's seeding takes (a 32-bit unsigned integer).
SEED_RANGE = (0, 2**32 - 1)
#: ``--interval``: the coverage of a central prediction interval. Below the lower bound the
#: conformal rank rounds to 0 (an infinite band) and 1 - level to 1 (no interval score); no
#: calibration has the million scores a level above the upper bound needs.
INTERVAL_RANGE = (1e-6, 1 - 1e-6)



@dataclass(frozen=True)
class Bound:
    """The numbers an option takes: from ``low`` to ``high`` (None: no upper end), each
    end included unless it is open; ``whole``: a whole number."""

    low: float
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    whole: bool = False

    def holds(self, value: float) -> bool:
        """Whether ``value`` is inside the bounds (NaN never is)."""
        above = value > self.low if self.open_low else value >= self.low
        below = self.high is None or (value < self.high if self.open_high
                                      else value <= self.high)
        return bool(above and below)

    @property
    def phrase(self) -> str:
        """What the messages say a value must be: "at least 1", "in [0, 1)", ..."""
        low = _number(self.low)
        if self.high is None:
            if self.open_low:
                return f"above {low}"
            return f"at least {low}" if self.low else f"{low} or more"
        if not (self.open_low or self.open_high):
            return f"{'a whole number ' if self.whole else ''}from {low} to {_number(self.high)}"
        return (f"in {'(' if self.open_low else '['}{low}, {_number(self.high)}"
                f"{')' if self.open_high else ']'}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


#: The bounds of the numeric options, by config key: checked by ``ForecastConfig.validate``
#: (train's options and config.json) and by tune's ``--space`` (``tuning.space``).
OPTION_BOUNDS = {
    **{name: Bound(1) for name in ("layers", "units", "window", "horizon", "epochs",
                                   "batch_size")},
    "dense_units": Bound(0),
    "patience": Bound(0),
    "dropout": Bound(0.0, 1.0, open_high=True),
    "learning_rate": Bound(0.0, open_low=True),
    "seed": Bound(*SEED_RANGE, whole=True),
    "test_fraction": Bound(0.0, 1.0, open_low=True, open_high=True),
    "val_fraction": Bound(0.0, 1.0, open_low=True, open_high=True),
    **{name: Bound(0.0) for name in ("l1", "l2")},
    **{name: Bound(0.0, open_low=True) for name in ("clipnorm", "clipvalue")},
}

#: What `forecast tune` searches by default, and over which values: a list of choices, or
#: an inclusive range (``log``: sampled on a log scale). ``--space FILE.json`` replaces
#: entries; an option given on the command line is fixed instead of searched.
SEARCH_SPACE = {
    "cell": list(CELLS),
    "layers": {"low": 1, "high": 3},
    "units": {"low": 8, "high": 128, "log": True},
    "dropout": {"low": 0.0, "high": 0.5},
    "window": {"low": 5, "high": 60},
    "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
    "batch_size": [32, 64, 128, 256],
}
DEFAULT_TRIALS = 30
#: Median pruning: a trial is stopped when its best validation loss so far is worse than
#: the median of earlier trials at the same epoch, once this many trials have finished and
#: after its first epochs.
PRUNE_AFTER_TRIALS = 5
PRUNE_AFTER_EPOCHS = 2


@dataclass(frozen=True)
class DataConfig:
    """Which columns of which file, and how they were read."""

    source: str = ""
    date_column: str | None = None
    target: str | None = None
    features: list[str] = field(default_factory=list)
    missing: str = "ffill"
    #: The long layout's series column as given (None: detected, or no series column).
    series_column: str | None = None
    #: Read every numeric column as one series (the wide layout).
    wide: bool = False
    #: How the training data was laid out: single, long, wide or files (see data.Panel).
    layout: str = "single"
    #: ``day-first``, ``month-first`` or a strftime pattern; None: decided from the column.
    date_format: str | None = None
    #: The decimal separator, ``.`` or ``,``; None: decided per column from its cells.
    decimal: str | None = None
    #: Inputs derived from the raw columns (names in DERIVED), in model order after the
    #: target and features. None: decided at training from the data (``auto``: the absolute
    #: log-return, and the log high-low range where High and Low exist); the list is stored.
    derived: list[str] | None = None
    #: Raw columns read only to derive inputs from (e.g. High, Low), as spelled in the file.
    extra: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelConfig:
    """The network: cell kind, depth, width and the shape of its input and output."""

    cell: str = "lstm"
    layers: int = 1
    units: int = 32
    dropout: float = 0.0
    bidirectional: bool = False
    dense_units: int = 0
    window: int = DEFAULT_WINDOW
    horizon: int = DEFAULT_HORIZON
    #: Quantile levels of the output, increasing, with 0.5 (the point forecast) among
    #: them, trained with the pinball loss; empty for a point forecast (output
    #: (batch, horizon) instead of (batch, horizon, quantiles)).
    quantiles: list[float] = field(default_factory=lambda: list(DEFAULT_QUANTILES))
    #: L1 and L2 penalty factors on the kernels (and recurrent kernels) of the recurrent
    #: and Dense layers; 0 for none. They shape training only, not inference.
    l1: float = 0.0
    l2: float = 0.0
    #: Attention over the last recurrent layer's outputs before the head (models.py).
    attention: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """How the model is fit, and on which rows."""

    target_transform: str = "log-return"
    #: The loss of a point model (no quantiles); a quantile model minimises the pinball loss.
    loss: str = "mae"
    #: Start the output at the training targets' mean (the drift forecast) and keep the
    #: trained weights only if they beat that start on validation, significantly.
    baseline_guard: bool = True
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    patience: int = 5
    val_fraction: float = DEFAULT_VAL_FRACTION
    test_fraction: float = DEFAULT_TEST_FRACTION
    #: Cut dates (ISO); when given they replace the fractions.
    val_start: str | None = None
    test_start: str | None = None
    seed: int = 42
    device: str = "auto"
    precision: str = "float32"
    strategy: str = "auto"
    #: The optimizer's gradient clipping: the largest norm of each weight's gradient, and
    #: the largest absolute value of each gradient entry; None for no clipping.
    clipnorm: float | None = None
    clipvalue: float | None = None


@dataclass(frozen=True)
class TrainingFacts:
    """What training found and did, recorded in config.json's ``facts`` (None: not
    recorded; a model directory of an earlier version may lack any of them).

    Training records the data's rows, dates and splits, the fit and the guards
    (``training.run_training``); the bundle writer the files read, their sha256 and the
    package versions (``bundle.write_bundle``); tune the search's summary. Keys of earlier
    versions not named here are kept in ``other`` and written back as they were.
    """

    #: Rows of the panel trained on, and its series' names (panel order).
    rows: int | None = None
    series: list[str] | None = None
    #: Rows of each split, summed over series.
    train_rows: int | None = None
    val_rows: int | None = None
    test_rows: int | None = None
    #: The panel's first and last dates and the split's cuts (ISO).
    first_date: str | None = None
    val_start: str | None = None
    test_start: str | None = None
    last_date: str | None = None
    #: series name -> its MASE denominator on its training rows.
    naive_scales: dict[str, float | None] | None = None
    #: Format 1's one series' MASE denominator.
    naive_scale: float | None = None
    #: The fit: epochs run, the epoch kept (0: the starting forecast), the loss minimised.
    epochs_run: int | None = None
    best_epoch: int | None = None
    loss: str | None = None
    #: The baseline guard's verdict; None (written as null once trained): the guard was off.
    baseline_guard: dict[str, Any] | None = None
    #: level ("0.8") -> the interval guard's verdict on that level's calibrated quantiles.
    interval_guard: dict[str, Any] | None = None
    train_seconds: float | None = None
    #: The devices trained on, as the notes say it, and whether cuDNN's kernels could run.
    device: str | None = None
    cudnn_eligible: bool | None = None
    parameters: int | None = None
    #: split name -> windows in it.
    windows: dict[str, int] | None = None
    #: The data read: its sha256, each file's path and sha256, the source as given and as
    #: an absolute path (which file the default model directory belongs to).
    sha256: str | None = None
    files: list[dict[str, str]] | None = None
    source: str | None = None
    source_path: str | None = None
    #: package -> version at train time, and when (ISO, UTC).
    versions: dict[str, str] | None = None
    trained_at: str | None = None
    #: tune's summary of its search (trials, states, best); absent for train.
    tuning: dict[str, Any] | None = None
    #: Keys this version does not name, as read.
    other: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """config.json's ``facts``: the facts recorded (None left out, but for the baseline
        guard's null once trained), then ``other``'s keys."""
        named = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                 if f.name != "other"}
        kept = {k: copy.deepcopy(v) for k, v in named.items()
                if v is not None or (k == "baseline_guard" and self.epochs_run is not None)}
        return {**copy.deepcopy(self.other), **kept}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrainingFacts":
        """Rebuild from config.json's ``facts`` (any version's; unknown keys kept in
        ``other``)."""
        if not isinstance(raw, dict):
            raise TypeError("'facts' is not an object")
        names = {f.name for f in dataclasses.fields(cls)} - {"other"}
        return cls(**{k: v for k, v in raw.items() if k in names},
                   other={k: v for k, v in raw.items() if k not in names})


@dataclass(frozen=True)
class ForecastConfig:
    """Everything a model directory needs to be used again: options plus facts about the data."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    #: Input columns in model order; the target is always first.
    columns: list[str] = field(default_factory=list)
    #: Facts recorded at train time: rows, date range, sha256, split sizes, versions, ...
    facts: TrainingFacts = field(default_factory=lambda: TrainingFacts())
    #: The layers as the NumPy engine runs them (weights in weights.npz); empty if unknown.
    network: list[dict[str, Any]] = field(default_factory=list)
    format_version: int = FORMAT_VERSION

    def validate(self) -> "ForecastConfig":
        """Check option values and combinations; raise UsageError naming the flag."""
        m, t = self.model, self.training
        _choice("--cell", m.cell, CELLS)
        _choice("--target-transform", t.target_transform, TARGET_TRANSFORMS)
        _choice("--missing", self.data.missing, MISSING_POLICIES)
        _choice("--loss", t.loss, LOSSES)
        _choice("--device", t.device, DEVICES)
        _choice("--precision", t.precision, PRECISIONS)
        _choice("--strategy", t.strategy, STRATEGIES)
        for name, value in (("layers", m.layers), ("units", m.units), ("window", m.window),
                            ("horizon", m.horizon), ("epochs", t.epochs),
                            ("batch_size", t.batch_size)):
            _check_bound(name, value)
        _check_quantiles(m.quantiles)
        if m.quantiles and t.loss != "mae":
            raise UsageError(f"--loss {t.loss} is for point models; a quantile model minimises "
                             "the pinball loss (its median level is the MAE's): pass "
                             "--no-quantiles to train a point model")
        for name in self.data.derived or []:
            _choice("--derived-inputs", name, DERIVED)
        for name, value in (("dense_units", m.dense_units), ("patience", t.patience),
                            ("dropout", m.dropout), ("learning_rate", t.learning_rate),
                            ("seed", t.seed), ("test_fraction", t.test_fraction),
                            ("val_fraction", t.val_fraction), ("l1", m.l1), ("l2", m.l2)):
            _check_bound(name, value)
        for name, value in (("clipnorm", t.clipnorm), ("clipvalue", t.clipvalue)):
            if value is not None:   # None: no clipping
                _check_bound(name, value)
        if t.clipnorm is not None and t.clipvalue is not None:
            raise UsageError(f"--clipnorm {t.clipnorm} and --clipvalue {t.clipvalue} are both "
                             "given, but the optimizer clips one way: pass one of them")
        for flag, value in (("--val-start", t.val_start), ("--test-start", t.test_start)):
            if value is not None:
                try:
                    import pandas as pd
                    pd.Timestamp(value)
                except (ValueError, TypeError):
                    raise UsageError(f"{flag} must be a date such as 2016-01-01, got "
                                     f"'{value}'") from None
        if t.val_fraction + t.test_fraction >= 0.9:
            raise UsageError("--val-fraction plus --test-fraction must leave at least 10% of rows "
                             f"for training, got {t.val_fraction} + {t.test_fraction}")
        return self

    @property
    def inputs(self) -> list[str]:
        """The network's input columns in model order: the target, the features, then the
        derived inputs (the raw ``extra`` columns are read but not fed in directly)."""
        raw = self.columns[:len(self.columns) - len(self.data.extra)]
        return [*raw, *(self.data.derived or [])]

    def to_dict(self) -> dict[str, Any]:
        """The config as config.json's object (``facts`` as ``TrainingFacts.to_dict``)."""
        return {**{f.name: dataclasses.asdict(getattr(self, f.name))
                   if dataclasses.is_dataclass(getattr(self, f.name))
                   else copy.deepcopy(getattr(self, f.name))
                   for f in dataclasses.fields(self)},
                "facts": self.facts.to_dict()}

    def to_json(self) -> str:
        """config.json's text: strict JSON (null for an undefined figure), keys sorted."""
        return json.dumps(json_safe(self.to_dict()), indent=2, sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config.json") -> "ForecastConfig":
        """Rebuild from a dict; unknown keys and wrong types are a ModelDirError naming ``source``."""
        if not isinstance(raw, dict):
            raise ModelDirError(f"{source} is not a JSON object; retrain the model")
        version = raw.get("format_version")
        if not isinstance(version, int):
            raise ModelDirError(f"{source} has no format_version; it was not written by forecast")
        if version > FORMAT_VERSION:
            raise ModelDirError(f"{source} has format version {version}, newer than this forecast "
                                f"understands ({FORMAT_VERSION}); upgrade forecast or retrain")
        data, model = raw.get("data", {}), raw.get("model", {})
        if version < 3 and isinstance(data, dict) and isinstance(model, dict):
            # Older layouts are point models with no derived inputs.
            model, data = {"quantiles": [], **model}, {"derived": [], **data}
        try:
            config = cls(
                data=_section(DataConfig, data),
                model=_section(ModelConfig, model),
                training=_section(TrainConfig, raw.get("training", {})),
                columns=list(raw.get("columns", [])),
                facts=TrainingFacts.from_dict(raw.get("facts", {})),
                network=list(raw.get("network", [])),
                format_version=version,
            )
            derived = config.data.derived
            if derived is not None and (not isinstance(derived, list)
                                        or any(n not in DERIVED for n in derived)):
                raise ValueError(f"'derived' should list some of {', '.join(DERIVED)}, "
                                 f"got {derived!r}")
            config.validate()   # the bounds of the options it was written from
        except (TypeError, ValueError, UsageError) as exc:
            message = _as_key(exc.message) if isinstance(exc, UsageError) else str(exc)
            raise ModelDirError(f"{source} is damaged ({message}); retrain the model") from None
        return config

    @classmethod
    def from_json(cls, text: str, source: str = "config.json") -> "ForecastConfig":
        """Rebuild from config.json's text; bad JSON is a ModelDirError naming ``source``."""
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ModelDirError(f"{source} is not valid JSON ({exc}); retrain the model") from None
        return cls.from_dict(raw, source)


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite figure as None, NumPy scalars and arrays as
    Python numbers and lists, and dates as ISO text, recursively, so that
    ``json.dumps(..., allow_nan=False)`` writes strict JSON (null where a figure is
    undefined)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:   # an array
        return [json_safe(v) for v in value.tolist()]
    if hasattr(value, "item") and hasattr(value, "dtype"):            # a NumPy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return None if value != value else value.isoformat()  # NaT != NaT
    return value


def check_interval(level: float | None) -> None:
    """Refuse (UsageError) an ``--interval`` level outside ``INTERVAL_RANGE``: predict,
    evaluate and plot check it before any work; None (not given) passes."""
    if level is not None and not INTERVAL_RANGE[0] <= level <= INTERVAL_RANGE[1]:
        raise UsageError(f"--interval must be between 0 and 1 (from {INTERVAL_RANGE[0]:g} to "
                         f"{INTERVAL_RANGE[1]:g}; e.g. 0.8), got {level:g}")


def _as_key(message: str) -> str:
    """An option's error said of config.json: what is wrong, with the option's key
    (``--batch-size`` -> 'batch_size'), without the advice for the command line."""
    what = message.split(": pass ")[0]
    return re.sub(r"--([a-z][a-z0-9-]*)", lambda m: "'" + m.group(1).replace("-", "_") + "'", what)


def _check_bound(name: str, value: float) -> None:
    """Refuse (UsageError naming the flag) a value outside its ``OPTION_BOUNDS``."""
    bound = OPTION_BOUNDS[name]
    if not bound.holds(value):
        raise UsageError(f"--{name.replace('_', '-')} must be {bound.phrase}, got {value}")


def _choice(flag: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UsageError(f"{flag} must be one of {', '.join(allowed)}; got '{value}'")


def median_index(levels: Sequence[float]) -> int:
    """The median's index among quantile levels (n_quantiles,), increasing: the level a
    quantile model's point forecast is, and its head builds the others on (the nearest
    level to 0.5 where 0.5 is missing)."""
    return min(range(len(levels)), key=lambda i: abs(float(levels[i]) - 0.5))


def _check_quantiles(levels: list[float]) -> None:
    if not levels:
        return
    if any(isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.0 < q < 1.0
           for q in levels):
        raise UsageError(f"--quantiles must be numbers between 0 and 1, got {levels}")
    if any(b <= a for a, b in zip(levels, levels[1:])):
        raise UsageError(f"--quantiles must be strictly increasing, got {levels}")
    if 0.5 not in levels:
        raise UsageError(f"--quantiles must include 0.5 (the median is the point forecast), "
                         f"got {levels}")


def _section(kind, raw):
    """Build one dataclass from a dict, checking keys and the types of the defaults."""
    if not isinstance(raw, dict):
        raise TypeError(f"section for {kind.__name__} is not an object")
    names = {f.name: f for f in dataclasses.fields(kind)}
    unknown = set(raw) - set(names)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    defaults = kind()
    for key, value in raw.items():
        expected = getattr(defaults, key)
        if expected is not None and value is not None and not _same_kind(expected, value):
            raise TypeError(f"'{key}' should be {type(expected).__name__}, got {value!r}")
    return kind(**raw)


def _same_kind(expected: Any, value: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool)
    if isinstance(expected, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(expected))
