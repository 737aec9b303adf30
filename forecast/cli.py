"""The `forecast` command line: parse options, call one stage function, format the result.

Thin on purpose, and light: nothing here imports TensorFlow, Keras or matplotlib at module
level, so `forecast --help` answers at once. Errors become one line on stderr:
``forecast: error: ...`` with the error's exit code (2 for bad input or usage).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from typer.core import TyperGroup

try:  # Typer >= 0.22 vendors Click; older releases depend on it.
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click
from forecast import __version__, runtime
from forecast.config import DEFAULT_DPI, DEFAULT_INTERVAL, DEFAULT_TRIALS, DPI_RANGE, check_interval
from forecast.console import (emit, interrupted, leave, note, reopen_closed_streams,
                              run_guarded)
from forecast.errors import UsageError
from forecast.options import (FileOptions, IntervalOpt, JsonOpt, ModelOpt, OptPricesArg, PricesArg,
                              QuantilesOpt, Reading, RefitRequest, TrainingRequest, file_options,
                              reading_options, refit_options, training_options, with_options)
from forecast.runtime import Interrupted, import_tensorflow_quietly

# TensorFlow's C++ logging writes straight to fd 2; quiet it before anything imports TF.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


class ForecastGroup(TyperGroup):
    """Runs a command and turns every failure into one line and an exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        """Run the command line; a failure is one line on stderr and its exit code
        (``console.run_guarded``), a traceback only with ``--debug``."""
        argv = list(sys.argv[1:] if args is None else args)
        saved = os.environ.get("FORECAST_DEBUG")
        if "--debug" in argv:  # for the TensorFlow import and spawned workers
            os.environ["FORECAST_DEBUG"] = "1"
        try:
            code = run_guarded(lambda: super(ForecastGroup, self).main(
                args=argv, prog_name=prog_name or "forecast", complete_var=complete_var,
                standalone_mode=False, **extra), debug="--debug" in argv)
        finally:  # an in-process run (a test's) leaves the environment as it found it
            if saved is None:
                os.environ.pop("FORECAST_DEBUG", None)
            else:
                os.environ["FORECAST_DEBUG"] = saved
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx):
        """Invoke the command; Ctrl-C raises ``Interrupted`` (exit 130 with its line)."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # Python's own SIGINT handler: Typer would exit 130 silently
            raise Interrupted(signal.SIGINT) from None


app = typer.Typer(
    cls=ForecastGroup,
    help="Forecast stock prices from CSV files with recurrent neural networks.\n\n"
         "Data goes to stdout as CSV (or JSON with --json); progress and messages to stderr.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"forecast {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Forecast stock prices from CSV files with recurrent neural networks."""


@app.command()
@with_options(file_options, name="file")
def inspect(
    prices: PricesArg,
    file: FileOptions,
    as_json: JsonOpt = False,
) -> None:
    """Show what forecast reads from PRICES: rows, series, dates, spacing, columns, target."""
    from forecast.data.describe import describe_file, format_description

    result = describe_file(prices, target=file.target, features=file.features,
                           date_column=file.date_column, series_column=file.series_column,
                           wide=file.wide, missing=file.missing, series=file.series,
                           date_format=file.date_format, decimal=file.decimal,
                           encoding=file.encoding)
    emit(result, as_json, format_description)


@app.command()
@with_options(training_options)
def train(
    prices: PricesArg,
    model_dir: Annotated[Optional[Path], typer.Option(
        "--model-dir", help="Where to write the model (default: models/<csv name>-<cell>).")] = None,
    options: TrainingRequest = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the model summary on stderr and exit without training.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train one model on PRICES (one series or a panel) and write a model directory."""
    from forecast.model_dirs import model_dir_for

    out = model_dir_for(model_dir, prices, options.config.model.cell)  # before any training
    data, config = options.read(prices)

    import_tensorflow_quietly()
    from forecast.bundle import write_bundle
    from forecast.report import report_test_metrics
    from forecast.training import run_training

    trained = run_training(data, config, dry_run=dry_run)
    if trained is None:
        return
    out = write_bundle(out, trained, data, default_dir=model_dir is None)
    report_test_metrics(trained, data, out, as_json)


@app.command()
@with_options(training_options)
def tune(
    context: typer.Context,
    prices: PricesArg,
    model_dir: Annotated[Optional[Path], typer.Option(
        "--model-dir", help="Where to write the best model (default: "
                            "models/<csv name>-tuned); the study is kept beside it in "
                            "<model-dir>.study/ unless --storage is given.")] = None,
    trials: Annotated[int, typer.Option(
        "--trials", help="Trials in the study when done (a resumed study counts the ones "
                         "it has).")] = DEFAULT_TRIALS,
    timeout: Annotated[Optional[float], typer.Option(
        "--timeout", help="Seconds the search may take: then it stops, a running trial "
                          "too, and the best so far is written.")] = None,
    jobs: Annotated[int, typer.Option(
        "--jobs", help="Worker processes on this machine, sharing the study.")] = 1,
    study: Annotated[Optional[str], typer.Option(
        "--study", help="Study name; the same name resumes it (default: the model "
                        "directory's name).")] = None,
    storage: Annotated[Optional[str], typer.Option(
        "--storage", help="An Optuna database URL (sqlite:///tune.db, "
                          "postgresql://user:pass@host/db, ...) instead of the journal file; "
                          "one URL lets several machines search one study.")] = None,
    space: Annotated[Optional[Path], typer.Option(
        "--space", help="JSON file narrowing or widening what is searched, e.g. "
                        '{"units": {"low": 8, "high": 64, "log": true}, "cell": ["gru"]}.')
    ] = None,
    options: TrainingRequest = None,
    as_json: JsonOpt = False,
) -> int:
    """Search cell, layers, units, dropout, window, learning rate and batch size on
    validation rows only (TPE, median pruning; test rows are never looked at), then write
    the best configuration as a model directory with trials.csv. Options of train that
    are given are fixed; the others keep train's defaults."""
    from forecast.tuning.space import SEARCHABLE
    from forecast.tuning.search import tune as search

    given = {name for name in SEARCHABLE
             if context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    return search(prices, options, given, model_dir=model_dir, trials=trials, timeout=timeout,
                  jobs=jobs, study=study, storage=storage, space=space, as_json=as_json)


def open_model(model: Optional[Path]):
    """Read a model directory (default: the newest under models/, named on stderr)."""
    from forecast.bundle import read_bundle
    from forecast.model_dirs import latest_model_dir

    if model is None:
        model = latest_model_dir()
        note(f"using model {model}")
    return read_bundle(model)


def load_panel(sources: Optional[list[str]], bundle, reading: Reading, recent: bool = False):
    """The prices to use: PRICES as given (one panel, read as ``reading`` says; None for
    the model's own), or the model's own data.csv (``recent``: only the rows a future
    forecast reads); ``--series`` restricts it."""
    from forecast.predict import read_for_model

    panel = read_for_model(sources, bundle, **reading.file_options()) if sources \
        else bundle.data(recent=recent)
    return panel.select(reading.series) if reading.series else panel


def check_predict_options(steps: Optional[int], backtest: bool, step: Optional[int]) -> int:
    """Refuse options that the chosen mode would ignore; returns the backtest step."""
    if backtest and steps is not None:
        raise UsageError("--steps is for future forecasts and --backtest forecasts every row "
                         "instead; drop one (use --step K for the K-step-ahead backtest)")
    if step is not None and not backtest:
        raise UsageError("--step applies only with --backtest; for future forecasts use "
                         "--steps N")
    return 1 if step is None else step


@app.command()
@with_options(reading_options, "reading")
@with_options(refit_options, "refit")
def predict(
    prices: OptPricesArg = None,
    model: ModelOpt = None,
    steps: Annotated[Optional[int], typer.Option(
        help="Future steps to forecast (default: the model's horizon).")] = None,
    backtest: Annotated[bool, typer.Option(
        "--backtest", help="Walk-forward: the forecast of every row from rows before it.")
    ] = False,
    step: Annotated[Optional[int], typer.Option(
        help="With --backtest: the STEP-ahead forecast, made STEP rows earlier (default 1).")
    ] = None,
    interval: IntervalOpt = None,
    quantiles: QuantilesOpt = False,
    reading: Reading = None,
    refit: RefitRequest = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Write the table to this file instead of stdout: .csv or "
                            ".parquet, atomically.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Forecast the next values after the last row, or backtest every row (CSV on stdout)."""
    from forecast.model_dirs import check_out_file
    from forecast.predict import Forecaster, load_predictor
    from forecast.report import write_table

    step = check_predict_options(steps, backtest, step)
    plan = refit.plan()
    if plan is not None and not backtest:
        raise UsageError("--refit-every applies only with --backtest; add --backtest")
    check_interval(interval)
    if out is not None and as_json:
        raise UsageError("--json writes to stdout and --out to a file; drop one")
    bundle = open_model(model)
    out = check_out_file(out, prices, bundle.path)   # refused before any work, if it must be
    # quantiles beyond the horizon calibrate on the validation rows: the whole data.csv
    beyond = quantiles and (steps or 0) > bundle.config.model.horizon
    data = load_panel(prices, bundle, reading, recent=not (backtest or beyond))
    forecaster = Forecaster(bundle, data, load_predictor(bundle, reading.engine))
    if plan is not None:
        from forecast.refit import refit_backtest
        write_table(refit_backtest(forecaster, plan, step, interval, quantiles), as_json, out)
        return
    write_table(forecaster.backtest(step, interval, quantiles) if backtest
                else forecaster.future(steps, interval, quantiles), as_json, out)


@app.command()
@with_options(reading_options, "reading", after={"per_series": "series"})
@with_options(refit_options, "refit")
def evaluate(
    prices: OptPricesArg = None,
    model: ModelOpt = None,
    interval: Annotated[Optional[float], typer.Option(
        "--interval", help=f"Level of the prediction interval scored beside the "
                           f"rolling-volatility conformal and GARCH(1,1) intervals (default "
                           f"{DEFAULT_INTERVAL}, or the widest the model's calibration "
                           "supports).")] = None,
    reading: Reading = None,
    per_series: Annotated[bool, typer.Option(
        "--per-series", help="For a panel, also one row per series.")] = False,
    var: Annotated[bool, typer.Option(
        "--var", help="Also backtest every tail quantile as a Value at Risk: exceedance rate, "
                      "Kupiec's and Christoffersen's tests, pinball loss and Basel's traffic "
                      "light, beside GARCH(1,1)-t and the rolling conformal band.")] = False,
    var_steps: Annotated[Optional[list[int]], typer.Option(
        "--step", help="With --var: the steps ahead backtested (repeat it: --step 1 --step "
                       "5; default 1).")] = None,
    refit: RefitRequest = None,
    as_json: JsonOpt = False,
) -> None:
    """Score walk-forward one-step forecasts over PRICES beside the naive and drift forecasts."""
    from forecast.predict import SEGMENTS, Forecaster, default_level, load_predictor
    from forecast.report import format_segment, format_var, single_series_view

    if var_steps and not var:
        raise UsageError("--step applies only with --var (the steps its VaR backtests cover)")
    if var_steps and min(var_steps) < 1:
        raise UsageError(f"--step must be at least 1, got {min(var_steps)}")
    plan = refit.plan()
    if plan is not None and var:
        raise UsageError("--var scores the saved model's backtest; with --refit-every, drop "
                         "--var (refit folds have no VaR backtests yet)")
    check_interval(interval)
    bundle = open_model(model)
    data = load_panel(prices, bundle, reading)
    level = default_level(bundle.calibration) if interval is None else interval
    forecaster = Forecaster(bundle, data, load_predictor(bundle, reading.engine))
    if plan is not None:
        from forecast.refit import refit_evaluate
        result = refit_evaluate(forecaster, plan, level)
    else:
        result = forecaster.evaluate(level)
    if var:
        result["var"] = forecaster.var_backtests(sorted(set(var_steps or [1])))
    titles = {"all": "all rows", "train": "rows the model was trained on (in-sample)",
              "validation": "validation rows (used for early stopping and intervals)",
              "test": "test rows (never seen in training)"}
    if plan is not None:
        titles = {"test": "refit backtest, all folds (each fold's model trained on rows "
                          "before its origin)"}
        titles.update({f"fold {name}": f"fold from {name}:" for name in result["folds"]})

    def text(res: dict) -> str:
        if plan is not None:
            parts = [("test", res["test"])] + [(f"fold {k}", v) for k, v in
                                               res["folds"].items() if v["series"]]
            return "\n\n".join(format_segment(seg, data.multi, f"{titles[name]}"
                                                + ("" if name.startswith("fold") else ":"),
                                                per_series) for name, seg in parts)
        text = "\n\n".join(format_segment(res[name], data.multi, f"{titles[name]}:", per_series)
                            for name in ("all", *SEGMENTS) if name in res)
        return text + ("\n\n" + format_var(res["var"], data.multi, per_series)
                       if "var" in res else "")
    if as_json:
        emit(single_series_view(result, data.multi), True, str)
    else:
        emit(result, False, text)


@app.command()
@with_options(reading_options, "reading")
def plot(
    prices: OptPricesArg = None,
    model: ModelOpt = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Figure to write, .png, .pdf or .svg (default: "
                            "<model dir>/plot.png).")] = None,
    interval: Annotated[Optional[float], typer.Option(
        "--interval", help=f"Level of the interval bands drawn (default {DEFAULT_INTERVAL}, "
                           "or the widest the model's calibration supports).")] = None,
    steps: Annotated[Optional[int], typer.Option(
        help="Future steps drawn (default: 20, or the horizon if longer).")] = None,
    dpi: Annotated[int, typer.Option(
        min=DPI_RANGE[0], max=DPI_RANGE[1],
        help="Resolution: 100 gives 1400x1100 pixels.")] = DEFAULT_DPI,
    var: Annotated[bool, typer.Option(
        "--var", help="Draw the VaR figure instead: the test rows' one-step returns against "
                      "the model's and GARCH(1,1)-t's 1% and 5% quantiles, exceedances "
                      "marked, rates and Kupiec p-values in the titles.")] = False,
    reading: Reading = None,
) -> None:
    """Draw actual vs predicted prices, the test segment, errors and loss curves to a figure
    (for a panel: small multiples of the test segment and the spread of MAE / naive)."""
    from forecast.plotting import check_out, draw_figure, draw_var, var_plot_data
    from forecast.predict import Forecaster, default_level, load_predictor

    check_interval(interval)
    bundle = open_model(model)
    out = check_out(out or bundle.path / "plot.png", prices, bundle.path)  # before any work
    data = load_panel(prices, bundle, reading)
    forecaster = Forecaster(bundle, data, load_predictor(bundle, reading.engine))
    level = default_level(bundle.calibration, max(steps or 20, bundle.config.model.horizon)) \
        if interval is None else interval
    source = (bundle.config.facts.source or data.source) if not prices else data.source
    if var:
        written = draw_var(var_plot_data(forecaster), f"{source}: one-step VaR on the test rows "
                           "(exceedances marked)", out, dpi)
        print(f"forecast: wrote {written}", file=sys.stderr)
        return
    written = draw_figure(forecaster, source, out, level, steps, dpi)
    print(f"forecast: wrote {written}", file=sys.stderr)


def main() -> NoReturn:
    """Console-script entry point."""
    reopen_closed_streams()
    # A closed pipe (`forecast predict ... | head`) ends the program quietly, as in csvkit.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # Ctrl-C and SIGTERM unwind through `finally` blocks (temporary model directories are
    # removed) to one line on stderr, exit 130 or 143.
    runtime.handle_signals()
    try:
        code = typer.main.get_command(app).main(prog_name="forecast", standalone_mode=False)
    except Interrupted as exc:  # outside the command: while it is built, or its notes print
        code = interrupted(exc.signum, False, [])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    leave(code)
