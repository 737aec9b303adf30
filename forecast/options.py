"""The command line's options, declared once and shared as groups: inspect, train and tune
read PRICES with the same file options (``file_options``), train and tune take train's
(``training_options``, which ends with the file options and builds the read-only config),
and predict, evaluate and plot the reading options for a model (``reading_options``);
``with_options`` gives a command a whole group. Typer only: no TensorFlow, no NumPy.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from inspect import Signature, signature
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from forecast.config import (DERIVED, DERIVED_SOURCES, DataConfig, ForecastConfig, ModelConfig,
                             TrainConfig)

# Option defaults come from the config dataclasses, the one place they are defined.
DATA, MODEL, TRAIN = DataConfig(), ModelConfig(), TrainConfig()


# Options shared by every command that reads a CSV: declared once, used everywhere.
PricesArg = Annotated[list[str], typer.Argument(
    metavar="PRICES...", help="CSV files with a date column, or - for stdin: one series each, "
                              "a long file (a series column) or, with --wide, one series per "
                              "column.")]
OptPricesArg = Annotated[Optional[list[str]], typer.Argument(
    metavar="[PRICES]...", help="CSV files or - for stdin (default: the model's own data.csv). "
                                "Several files or a long file give a leading series column.")]
SeriesColumnOpt = Annotated[Optional[str], typer.Option(
    "--series-column", help="The column naming each row's series (ticker) in a long file "
                            "(default: detected, e.g. symbol or ticker).")]
WideOpt = Annotated[Optional[bool], typer.Option(
    "--wide/--no-wide", help="Each numeric column is one series of the same quantity "
                             "(default: no; for predict and co. the model's own layout).",
    show_default=False)]
SeriesOpt = Annotated[Optional[str], typer.Option(
    "--series", help="Only these series, comma-separated; quote a name holding a comma: "
                     "'\"A,B\",C' (default: all).")]
TargetOpt = Annotated[Optional[str], typer.Option(
    "--target", help="Column to forecast (default: Close, else Adj Close, else the only "
                     "numeric column).")]
FeaturesOpt = Annotated[Optional[str], typer.Option(
    "--features", help="Extra input columns, comma-separated (default: the target alone).")]
DateColumnOpt = Annotated[Optional[str], typer.Option(
    "--date-column", help="The date column (default: Date, Datetime, timestamp, ...).")]
MissingOpt = Annotated[str, typer.Option(
    "--missing", help="Empty cells in used columns: ffill, drop or error.")]
DateFormatOpt = Annotated[Optional[str], typer.Option(
    "--date-format", help="Order of numeric dates such as 02.01.2019: day-first or "
                          "month-first, or a strftime pattern such as %d.%m.%Y (default: "
                          "decided from the whole column; ambiguous columns are refused).")]
DecimalOpt = Annotated[Optional[str], typer.Option(
    "--decimal", help="Decimal separator of the numbers, . or , (default: decided per "
                      "column; ambiguous columns are refused).")]
EncodingOpt = Annotated[Optional[str], typer.Option(
    "--encoding", help="Text encoding of PRICES, any Python knows: cp1252, latin-1, utf-16, "
                       "... (default: UTF-8; a byte-order mark is honoured).")]
# The same for commands that read PRICES for a trained model: by default, as it was trained.
ModelDateColumnOpt = Annotated[Optional[str], typer.Option(
    "--date-column", help="The date column (default: the model's, else detected).")]
ModelMissingOpt = Annotated[Optional[str], typer.Option(
    "--missing", help="Empty cells: ffill, drop or error (default: as the model was trained).")]
ModelDateFormatOpt = Annotated[Optional[str], typer.Option(
    "--date-format", help="Order of numeric dates: day-first, month-first or a strftime "
                          "pattern (default: as the model was trained, else decided from "
                          "the column).")]
ModelDecimalOpt = Annotated[Optional[str], typer.Option(
    "--decimal", help="Decimal separator, . or , (default: as the model was trained, else "
                      "decided per column).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def split_list(text: Optional[str]) -> list[str]:
    """Comma-separated ``text`` as its non-empty parts, stripped."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def split_names(text: Optional[str]) -> list[str]:
    """``--series`` as one CSV row: names between commas, a name that holds a comma in
    double quotes (``--series '"A,B",C'``)."""
    import csv

    row = next(csv.reader([text or ""], skipinitialspace=True), [])
    return [part.strip() for part in row if part.strip()]


def parse_quantiles(text: str, off: bool) -> list[float]:
    """``--quantiles`` as levels: empty (or ``none``, or ``--no-quantiles``) for a point
    model; a non-number is a UsageError naming the flag."""
    if off or text.strip().lower() in ("", "none"):
        return []
    try:
        return [float(part) for part in split_list(text)]
    except ValueError:
        from forecast.errors import UsageError
        raise UsageError(f"--quantiles must be numbers between 0 and 1 such as 0.1,0.5,0.9 "
                         f"(or '' for a point model), got '{text}'") from None


def parse_derived(text: str) -> Optional[list[str]]:
    """``--derived-inputs``: None for ``auto`` (decided from the data), [] for ``none``."""
    text = text.strip().lower()
    if text == "auto":
        return None
    return [] if text in ("", "none") else split_list(text)


@dataclass
class FileOptions:
    """How ``inspect``, ``train`` and ``tune`` read PRICES: which columns, which series,
    which layout, and how cells and bytes are parsed (None: detected)."""

    target: Optional[str]
    features: list[str]
    date_column: Optional[str]
    series_column: Optional[str]
    wide: bool
    series: list[str]
    missing: str
    date_format: Optional[str]
    decimal: Optional[str]
    encoding: Optional[str]


def file_options(
    target: TargetOpt = None,
    features: FeaturesOpt = None,
    date_column: DateColumnOpt = None,
    series_column: SeriesColumnOpt = None,
    wide: WideOpt = None,
    series: SeriesOpt = None,
    missing: MissingOpt = DATA.missing,
    date_format: DateFormatOpt = None,
    decimal: DecimalOpt = None,
    encoding: EncodingOpt = None,
) -> FileOptions:
    """The options that read PRICES for a new model (and for ``inspect``), declared once
    (``with_options``)."""
    return FileOptions(target, split_list(features), date_column, series_column, bool(wide),
                       split_names(series), missing, date_format, decimal, encoding)


def training_options(
    cell: Annotated[str, typer.Option(help="Recurrent cell: lstm, gru or rnn.")] = MODEL.cell,
    layers: Annotated[int, typer.Option(help="Stacked recurrent layers.")] = MODEL.layers,
    units: Annotated[int, typer.Option(help="Units per recurrent layer.")] = MODEL.units,
    dropout: Annotated[float, typer.Option(help="Dropout between layers (0 to disable).")] = MODEL.dropout,
    bidirectional: Annotated[bool, typer.Option(
        "--bidirectional", help="Wrap each recurrent layer in Bidirectional.")] = MODEL.bidirectional,
    dense_units: Annotated[int, typer.Option(
        help="Units of a hidden Dense layer before the output (0 for none).")] = MODEL.dense_units,
    l1: Annotated[float, typer.Option(
        "--l1", help="L1 penalty factor on the recurrent and Dense layers' kernels "
                     "(0 for none).")] = MODEL.l1,
    l2: Annotated[float, typer.Option(
        "--l2", help="L2 penalty factor on the recurrent and Dense layers' kernels "
                     "(0 for none).")] = MODEL.l2,
    attention: Annotated[bool, typer.Option(
        "--attention", help="Attention over the last recurrent layer's outputs, its last "
                            "step as the query, before the output.")] = MODEL.attention,
    window: Annotated[int, typer.Option(help="Rows of history per input window.")] = MODEL.window,
    horizon: Annotated[int, typer.Option(help="Steps forecast at once (direct).")] = MODEL.horizon,
    target_transform: Annotated[str, typer.Option(
        help="What the network predicts: log-return (default; see README) or level.")
    ] = TRAIN.target_transform,
    loss: Annotated[str, typer.Option(
        help="Training loss of a point model (--no-quantiles): mae (default: forecasts the "
             "median, as MAE rewards), mse or huber. A quantile model minimises the pinball "
             "loss.")] = TRAIN.loss,
    quantiles: Annotated[str, typer.Option(
        "--quantiles", help="Quantile levels the network forecasts, with 0.5 (the point "
                            "forecast) among them; '' or none for a point model.")
    ] = ",".join(f"{q:g}" for q in MODEL.quantiles),
    no_quantiles: Annotated[bool, typer.Option(
        "--no-quantiles", help="Train a point model (as --quantiles '').")] = False,
    derived_inputs: Annotated[str, typer.Option(
        "--derived-inputs", help=f"Volatility inputs beside the target: auto (abs-return, "
                                 f"plus log-range where High and Low columns exist), none, or "
                                 f"some of {', '.join(DERIVED)}.")] = "auto",
    baseline_guard: Annotated[bool, typer.Option(
        "--baseline-guard/--no-baseline-guard",
        help="Start from the median (mse: mean) training step, a drift-like forecast, and keep "
             "the trained network only if it beats that start significantly on held-out "
             "validation windows.")] = TRAIN.baseline_guard,
    epochs: Annotated[int, typer.Option(help="Most epochs (early stopping may end sooner).")] = TRAIN.epochs,
    batch_size: Annotated[int, typer.Option(help="Windows per training batch.")] = TRAIN.batch_size,
    learning_rate: Annotated[float, typer.Option(help="Adam learning rate.")] = TRAIN.learning_rate,
    clipnorm: Annotated[Optional[float], typer.Option(
        "--clipnorm", help="Clip each weight's gradient to this norm (default: no "
                           "clipping).")] = TRAIN.clipnorm,
    clipvalue: Annotated[Optional[float], typer.Option(
        "--clipvalue", help="Clip each gradient entry to this absolute value (default: no "
                            "clipping).")] = TRAIN.clipvalue,
    patience: Annotated[int, typer.Option(
        help="Epochs without validation improvement before stopping.")] = TRAIN.patience,
    val_fraction: Annotated[float, typer.Option(
        help="Share of rows, before the test rows, for validation.")] = TRAIN.val_fraction,
    test_fraction: Annotated[float, typer.Option(
        help="Share of last dates held out from scaling and training.")] = TRAIN.test_fraction,
    val_start: Annotated[Optional[str], typer.Option(
        "--val-start", help="First validation date (default: from --val-fraction).")] = None,
    test_start: Annotated[Optional[str], typer.Option(
        "--test-start", help="First test date: rows from it are never seen in training "
                             "(default: from --test-fraction).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same CPU result).")] = TRAIN.seed,
    device: Annotated[str, typer.Option(help="auto (GPU if present), cpu or gpu.")] = TRAIN.device,
    precision: Annotated[str, typer.Option(help="float32, or mixed (GPU only).")] = TRAIN.precision,
    strategy: Annotated[str, typer.Option(
        help="auto (mirrored over several GPUs), one, or mirrored.")] = TRAIN.strategy,
    file: "FileOptions" = None,
) -> "TrainingRequest":
    """train's options, declared once: ``train`` and ``tune`` both take every one of them
    (see ``with_options``), and ``file`` stands for ``file_options``' (below).

    Returns:
        them as one validated config plus how to read PRICES.
    """
    config = ForecastConfig(
        data=DataConfig(date_column=file.date_column, target=file.target,
                        features=file.features, missing=file.missing,
                        series_column=file.series_column, wide=file.wide,
                        derived=parse_derived(derived_inputs),
                        date_format=file.date_format, decimal=file.decimal),
        model=ModelConfig(cell=cell, layers=layers, units=units, dropout=dropout,
                          bidirectional=bidirectional, dense_units=dense_units, window=window,
                          horizon=horizon, quantiles=parse_quantiles(quantiles, no_quantiles),
                          l1=l1, l2=l2, attention=attention),
        training=TrainConfig(target_transform=target_transform, loss=loss,
                             baseline_guard=baseline_guard, epochs=epochs,
                             batch_size=batch_size, learning_rate=learning_rate,
                             patience=patience, val_fraction=val_fraction,
                             test_fraction=test_fraction, val_start=val_start,
                             test_start=test_start, seed=seed, device=device,
                             precision=precision, strategy=strategy, clipnorm=clipnorm,
                             clipvalue=clipvalue),
    ).validate()
    from forecast.data.dates import check_option_date   # the data's rules (pandas: not for --help)

    for flag, value in (("--val-start", val_start), ("--test-start", test_start)):
        if value is not None:   # its day/month order waits for the data's (option_date)
            check_option_date(value, flag, file.date_format)
    return TrainingRequest(config, file.series, file.encoding)


@dataclass
class TrainingRequest:
    """What train's options ask for: the config (data, model, training) and the series."""

    config: ForecastConfig
    series: list[str]
    encoding: Optional[str] = None   # how PRICES are read, not part of the model

    def read(self, prices: list[str]) -> tuple[Any, ForecastConfig]:
        """Read PRICES as the options say and restrict them to ``--series``.

        Returns the panel and the config completed with what was read (the source, the
        columns and layout found): a new config, built once here and read only after;
        ``self.config`` stays as the options made it."""
        from forecast.data.panel import read_panel

        d = self.config.data
        extra = [c for name in (DERIVED if d.derived is None else d.derived)
                 for c in DERIVED_SOURCES.get(name, ())]
        data = read_panel(prices, target=d.target, features=d.features,
                          date_column=d.date_column, series_column=d.series_column,
                          wide=d.wide, missing=d.missing, date_format=d.date_format,
                          decimal=d.decimal, extra=extra, extra_optional=d.derived is None,
                          encoding=self.encoding)
        if self.series:
            data = data.select(self.series)
        read = dataclasses.replace(d, source=", ".join(prices), target=data.target,
                                   features=data.features, date_column=data.date_column,
                                   layout=data.layout, series_column=data.series_column,
                                   extra=data.extra)
        return data, dataclasses.replace(self.config, data=read, columns=data.columns)


def with_options(builder: Callable[..., Any], name: str = "options",
                 after: Optional[dict[str, str]] = None) -> Callable[[Callable], Callable]:
    """Give a command every option of ``builder``, declared once in its signature; the
    command receives ``builder(**those options)`` as its argument ``name``, and the
    options stand in its help where that argument stands (``after``: the command's own
    option -> the group's option it stands after, to keep a help page's order).

    This is how ``train`` and ``tune`` share train's long option list, and predict,
    evaluate and plot their reading options, without copying them (sqlite-utils shares
    its output options with one click decorator the same way).
    """
    shared = list(signature(builder, eval_str=True).parameters.values())
    names = [p.name for p in shared]

    def decorate(command: Callable) -> Callable:
        own = list(signature(command, eval_str=True).parameters.values())
        at = [p.name for p in own].index(name)

        @functools.wraps(command)
        def run(**kwargs):
            options = builder(**{n: kwargs.pop(n) for n in names})
            return command(**{name: options}, **kwargs)

        params = own[:at] + shared + own[at + 1:]
        for mine, there in (after or {}).items():
            moved = next(p for p in params if p.name == mine)
            params.remove(moved)
            params.insert([p.name for p in params].index(there) + 1, moved)
        run.__signature__ = Signature(params)
        return run
    return decorate


# readable=False: Click's own check would race a train that swaps the directory (read_bundle
# waits for the swap and says what is wrong itself).
ModelOpt = Annotated[Optional[Path], typer.Option(
    "--model", "-m", readable=False, help="Model directory (default: the newest under models/).")]
EngineOpt = Annotated[str, typer.Option(
    "--engine", help="auto (NumPy when the model has weights.npz, else Keras), numpy or keras.")]
IntervalOpt = Annotated[Optional[float], typer.Option(
    "--interval", help="Add lower,upper columns: a prediction interval at this level (e.g. "
                       "0.8): the network's calibrated quantiles where it was trained on that "
                       "level and they passed the interval guard, else the "
                       "rolling-volatility conformal band.")]
QuantilesOpt = Annotated[bool, typer.Option(
    "--quantiles", help="Add one column per trained quantile level (q0.1, q0.5, q0.9), in "
                        "price units.")]

@dataclass
class Reading:
    """How predict, evaluate and plot read PRICES for a model, and which engine runs it.
    ``None`` everywhere means: as the model was trained (else detected)."""

    series: list[str]
    series_column: Optional[str]
    wide: Optional[bool]
    engine: str
    date_column: Optional[str]
    missing: Optional[str]
    date_format: Optional[str]
    decimal: Optional[str]
    encoding: Optional[str]

    def file_options(self) -> dict[str, Any]:
        """The options of ``predict.read_for_model`` (beside the sources and the bundle)."""
        return {"series_column": self.series_column, "wide": self.wide,
                "date_column": self.date_column, "missing": self.missing,
                "date_format": self.date_format, "decimal": self.decimal,
                "encoding": self.encoding}


def reading_options(
    series: SeriesOpt = None,
    series_column: SeriesColumnOpt = None,
    wide: WideOpt = None,
    engine: EngineOpt = "auto",
    date_column: ModelDateColumnOpt = None,
    missing: ModelMissingOpt = None,
    date_format: ModelDateFormatOpt = None,
    decimal: ModelDecimalOpt = None,
    encoding: EncodingOpt = None,
) -> Reading:
    """The reading options of predict, evaluate and plot, declared once (``with_options``;
    a new one is a parameter here and a field of ``Reading``)."""
    return Reading(split_names(series), series_column, wide, engine, date_column, missing,
                   date_format, decimal, encoding)


@dataclass
class RefitRequest:
    """The refit-backtest options of predict and evaluate, as given (``plan`` checks them)."""

    every: Optional[int]
    train_window: Optional[str]
    refit_from: str
    jobs: int
    work_dir: Optional[Path]
    seed: Optional[int]
    ray: Optional[str] = None

    def plan(self):
        """A ``refit.RefitPlan`` (None without --refit-every); a UsageError names a bad
        option."""
        from forecast.refit import check_plan

        return check_plan(self.every, self.train_window, self.jobs, self.refit_from,
                          self.work_dir, self.seed, self.ray)


def refit_options(
    refit_every: Annotated[Optional[int], typer.Option(
        "--refit-every", help="With --backtest: retrain the model's configuration at the "
                              "test start and every K rows of dates after it, each fold on "
                              "rows dated before its origin only; adds a fold column.")
    ] = None,
    train_window: Annotated[Optional[str], typer.Option(
        "--train-window", help="Rows of dates each refit trains on: expanding (all before "
                               "the origin; the default) or the last D.")] = None,
    refit_from: Annotated[str, typer.Option(
        "--refit-from", help="scratch (each fold trains anew) or saved (from the saved "
                             "model's weights, a third of the epochs).")] = "scratch",
    jobs: Annotated[int, typer.Option(
        "--jobs", help="With --refit-every: folds run in this many worker processes "
                       "(the same bytes for any number).")] = 1,
    work_dir: Annotated[Optional[Path], typer.Option(
        "--work-dir", help="With --refit-every: keep each finished fold here; the same "
                           "command again skips them.")] = None,
    seed: Annotated[Optional[int], typer.Option(
        "--seed", help="With --refit-every: the seed each fold draws its own from, with its "
                       "origin (default: the model's).")] = None,
    ray: Annotated[Optional[str], typer.Option(
        "--ray", metavar="local|ADDRESS",
        help="With --refit-every: run folds as Ray tasks, on a Ray runtime started here "
             "(local) or on the cluster at ADDRESS (pip install 'forecast[ray]').")] = None,
) -> RefitRequest:
    """The refit options of predict and evaluate, declared once (``with_options``)."""
    return RefitRequest(refit_every, train_window, refit_from, jobs, work_dir, seed, ray)


# train's options end with the file options (as train's and tune's help list them).
training_options = with_options(file_options, name="file")(training_options)
