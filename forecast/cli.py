"""The `forecast` command line: parse options, call one stage function, format the result.

Thin on purpose, and light: nothing here imports TensorFlow, Keras or matplotlib at module
level, so `forecast --help` answers at once. Errors become one line on stderr:
``forecast: error: ...`` with the error's exit code (2 for bad input or usage).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from inspect import Signature, signature
from pathlib import Path
from typing import Annotated, Any, Callable, NoReturn, Optional

import typer
from typer.core import TyperGroup

try:  # Typer >= 0.22 vendors Click; older releases depend on it.
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click
from forecast import __version__, runtime
from forecast.config import (DEFAULT_DPI, DEFAULT_INTERVAL, DEFAULT_TRIALS, DERIVED,
                             DERIVED_SOURCES, DPI_RANGE, DataConfig, ForecastConfig,
                             ModelConfig, TrainConfig, check_interval, json_safe)
from forecast.errors import (OUT_OF_MEMORY, ForecastError, OutputError, UsageError,
                             held_warnings, is_folded, note, release_held)
from forecast.runtime import Interrupted, import_tensorflow_quietly

# TensorFlow's C++ logging writes straight to fd 2; quiet it before anything imports TF.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


class ForecastGroup(TyperGroup):
    """Runs a command and turns every failure into one line and an exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
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
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # Python's own SIGINT handler: Typer would exit 130 silently
            raise Interrupted(signal.SIGINT) from None


def run_guarded(call: Callable[[], Any], debug: bool = False) -> int:
    """Call ``call`` and map its outcome to an exit code, printing errors as one line.

    Warnings are held until the command ends: printed after a success, folded into the
    one line of a failure."""
    with held_warnings() as notes:
        code = _run(call, debug, notes)
    for line in notes:
        print(f"forecast: {line}", file=sys.stderr)
    return code


def _run(call: Callable[[], Any], debug: bool, notes: list[str]) -> int:
    try:
        result = call()
        return result if isinstance(result, int) else 0
    except ForecastError as exc:
        return fail(exc.message, exc.exit_code, debug, notes)
    except Interrupted as exc:
        return interrupted(exc.signum, debug, notes)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `forecast`: the help, as Click
        print(exc.format_message(), file=sys.stderr)   # gives it (stderr, exit 2)
        return 2
    except click.exceptions.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        return fail(f"{exc.format_message()}{hint}", 2, debug, notes)
    except click.exceptions.ClickException as exc:
        return fail(exc.format_message(), exc.exit_code, debug, notes)
    except (typer.Abort, KeyboardInterrupt):
        return interrupted(signal.SIGINT, debug, notes)
    except ClosedStream as exc:  # e.g. --help >&-
        return fail(f"{exc.strerror}; nothing was written", 2, debug, notes)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining
        # about the unflushable stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except MemoryError:
        return fail(OUT_OF_MEMORY, 1, debug, notes)
    except Exception as exc:  # a bug, not a user mistake: say so, keep it one line
        if runtime.received is not None:  # a signal cut C code short (a SystemError, say)
            return interrupted(runtime.received, debug, notes)
        return fail(f"unexpected {type(exc).__name__}: {exc}; rerun with --debug for the "
                    "traceback and report it", 1, debug, notes)


def fail(message: str, code: int, debug: bool, notes: list[str] | None = None,
         kind: str = "error: ") -> int:
    """Print the one error line (with any held warnings folded in); empty ``notes``."""
    if debug:
        traceback.print_exc()
    warnings = [str(n).removeprefix("warning: ") for n in notes or () if is_folded(n)]
    if notes:
        notes.clear()
    runtime.restore_stderr()  # a signal during the quiet TensorFlow import: say it here
    print(one_line(f"forecast: {kind}", message, warnings), file=sys.stderr)
    return code


def interrupted(signum: int, debug: bool, notes: list[str]) -> int:
    """Ctrl-C: ``forecast: interrupted``, exit 130; SIGTERM: an error, exit 143."""
    if signum == signal.SIGINT:
        return fail("interrupted", 130, debug, notes, kind="")
    return fail("terminated", 128 + signum, debug, notes)


#: The longest error line: a message quoting a whole cell or list is cut to this.
MAX_LINE = 300


def one_line(prefix: str, message: str, folded: list[str] = ()) -> str:
    """``prefix + message`` with ``folded`` warnings after it, in at most MAX_LINE
    characters: what is too long is cut in its middle (`` ... ``), keeping the start of
    the message and its end (the fix), and the message before the folded warnings."""
    message = " ".join(message.split())
    after = f" (after: {'; '.join(' '.join(w.split()) for w in folded)})" if folded else ""
    room = MAX_LINE - len(prefix)
    if len(message) + len(after) > room:
        after = _cut(after, max(room - len(message), min(len(after), room // 4)))
    return prefix + _cut(message, room - len(after)) + after


def _cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, its middle replaced by `` ... ``: the end
    kept is its last clause (after the last '; ', the fix) when that is short, else a
    third of the width."""
    if len(text) <= width:
        return text
    fix = text.rfind("; ")
    keep = len(text) - fix if 0 < fix and len(text) - fix <= width // 2 else width // 3
    tail = text[len(text) - keep:]
    gap = " ..." if tail.startswith("; ") else " ... "
    return text[:width - keep - len(gap)].rstrip() + gap + tail


# Option defaults come from the config dataclasses, the one place they are defined.
DATA, MODEL, TRAIN = DataConfig(), ModelConfig(), TrainConfig()

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
    "--series", help="Only these series, comma-separated (default: all).")]
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
    return [part.strip() for part in (text or "").split(",") if part.strip()]


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


def emit(result: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    """Write a command's result on stdout: strict JSON with --json (null for undefined
    figures), else the command's text form. A full disk or a closed file is an OutputError."""
    if as_json:
        body = json.dumps(json_safe(result), indent=2, default=_json_default, allow_nan=False)
    else:
        body = text(result).rstrip("\n")
    try:
        sys.stdout.write(body + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        _drop_stdout()  # so that the interpreter's own flush at exit does not fail again
        raise OutputError(f"cannot write the output to stdout ({exc.strerror or exc}); check "
                          "the disk or the redirection") from None


def _drop_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test runner's buffer)
        pass


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@app.command()
def inspect(
    prices: PricesArg,
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
    as_json: JsonOpt = False,
) -> None:
    """Show what forecast reads from PRICES: rows, series, dates, spacing, columns, target."""
    from forecast.data import describe_file, format_description

    result = describe_file(prices, target=target, features=split_list(features),
                           date_column=date_column, series_column=series_column,
                           wide=bool(wide), missing=missing, series=split_list(series),
                           date_format=date_format, decimal=decimal, encoding=encoding)
    emit(result, as_json, format_description)


def training_options(
    cell: Annotated[str, typer.Option(help="Recurrent cell: lstm, gru or rnn.")] = MODEL.cell,
    layers: Annotated[int, typer.Option(help="Stacked recurrent layers.")] = MODEL.layers,
    units: Annotated[int, typer.Option(help="Units per recurrent layer.")] = MODEL.units,
    dropout: Annotated[float, typer.Option(help="Dropout between layers (0 to disable).")] = MODEL.dropout,
    bidirectional: Annotated[bool, typer.Option(
        "--bidirectional", help="Wrap each recurrent layer in Bidirectional.")] = MODEL.bidirectional,
    dense_units: Annotated[int, typer.Option(
        help="Units of a hidden Dense layer before the output (0 for none).")] = MODEL.dense_units,
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
) -> "TrainingRequest":
    """train's options, declared once: ``train`` and ``tune`` both take every one of them
    (see ``with_options``). Returns them as one validated config plus how to read PRICES."""
    config = ForecastConfig(
        data=DataConfig(date_column=date_column, target=target, features=split_list(features),
                        missing=missing, series_column=series_column, wide=bool(wide),
                        derived=parse_derived(derived_inputs),
                        date_format=date_format, decimal=decimal),
        model=ModelConfig(cell=cell, layers=layers, units=units, dropout=dropout,
                          bidirectional=bidirectional, dense_units=dense_units, window=window,
                          horizon=horizon, quantiles=parse_quantiles(quantiles, no_quantiles)),
        training=TrainConfig(target_transform=target_transform, loss=loss,
                             baseline_guard=baseline_guard, epochs=epochs,
                             batch_size=batch_size, learning_rate=learning_rate,
                             patience=patience, val_fraction=val_fraction,
                             test_fraction=test_fraction, val_start=val_start,
                             test_start=test_start, seed=seed, device=device,
                             precision=precision, strategy=strategy),
    ).validate()
    return TrainingRequest(config, split_list(series), encoding)


@dataclass
class TrainingRequest:
    """What train's options ask for: the config (data, model, training) and the series."""

    config: ForecastConfig
    series: list[str]
    encoding: Optional[str] = None   # how PRICES are read, not part of the model

    def read(self, prices: list[str]):
        """Read PRICES as the options say, restrict to ``--series``, and record in the
        config what was read (columns, layout, the date and series columns)."""
        from forecast.data import read_panel

        d = self.config.data
        d.source = ", ".join(prices)
        extra = [c for name in (DERIVED if d.derived is None else d.derived)
                 for c in DERIVED_SOURCES.get(name, ())]
        data = read_panel(prices, target=d.target, features=d.features,
                          date_column=d.date_column, series_column=d.series_column,
                          wide=d.wide, missing=d.missing, date_format=d.date_format,
                          decimal=d.decimal, extra=extra, extra_optional=d.derived is None,
                          encoding=self.encoding)
        if self.series:
            data = data.select(self.series)
        d.target, d.features = data.target, data.features
        d.date_column, d.layout, d.series_column = data.date_column, data.layout, \
            data.series_column
        d.extra = data.extra
        self.config.columns = data.columns
        return data


def with_options(builder: Callable[..., Any]) -> Callable[[Callable], Callable]:
    """Give a command every option of ``builder``, declared once in its signature; the
    command receives ``builder(**those options)`` as its ``options`` argument.

    This is how ``train`` and ``tune`` share train's long option list without copying it
    (sqlite-utils shares its output options with one click decorator the same way).
    """
    shared = list(signature(builder, eval_str=True).parameters.values())
    names = [p.name for p in shared]

    def decorate(command: Callable) -> Callable:
        own = list(signature(command, eval_str=True).parameters.values())
        at = [p.name for p in own].index("options")  # train's options go where it stands

        @functools.wraps(command)
        def run(**kwargs):
            options = builder(**{name: kwargs.pop(name) for name in names})
            return command(options=options, **kwargs)

        run.__signature__ = Signature(own[:at] + shared + own[at + 1:])
        return run
    return decorate


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
    from forecast.bundle import model_dir_for

    config = options.config
    out = model_dir_for(model_dir, prices, config.model.cell)  # refused before any training
    data = options.read(prices)

    import_tensorflow_quietly()
    from forecast.bundle import write_bundle
    from forecast.training import run_training

    trained = run_training(data, config, dry_run=dry_run)
    if trained is None:
        return
    out = write_bundle(out, trained, data, default_dir=model_dir is None)
    report_test_metrics(trained, data, out, as_json)


def report_test_metrics(trained, data, out: Path, as_json: bool,
                        extra: Optional[dict] = None) -> None:
    """With --json the metrics (and ``extra``) on stdout; then, the command done, its
    notes, the test-row scores (model, naive, drift) and where the model went on stderr."""
    if as_json:
        emit({"model_dir": str(out), **(extra or {}),
              **single_series_view(trained.metrics, data.multi)}, True, str)
    release_held()
    print(format_segment(trained.metrics["test"], data.multi,
                         f"test rows, one step ahead, in {data.target} units:"),
          file=sys.stderr)
    print(f"forecast: model written to {out}", file=sys.stderr)


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
    from forecast import tuning

    if trials < 1 or jobs < 1:
        raise UsageError(f"--{'trials' if trials < 1 else 'jobs'} must be at least 1, got "
                         f"{trials if trials < 1 else jobs}")
    if timeout is not None and not timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {timeout}")
    given = {name for name in tuning.SEARCHABLE
             if context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    search_space = tuning.read_space(space, given)

    from forecast.bundle import model_dir_for

    target = model_dir_for(model_dir, prices, "tuned")  # refused before any search
    where = tuning.check_storage(storage, target)      # and before the data is read
    data = options.read(prices)
    search = tuning.Search(data, options.config, search_space, study or target.name, where,
                           storage is None, trials)
    import_tensorflow_quietly()
    tuning.check_data(search)
    held = sum(t.state.is_finished()
               for t in tuning.prepare_study(search).get_trials(deepcopy=False))
    print(f"forecast: searching {', '.join(search_space)} in study '{search.study_name}' "
          f"({search.where}{f', resumed with {held} trials' if held else ''}) until it holds "
          f"{trials} trials; the test rows are not used", file=sys.stderr)
    search.deadline = None if timeout is None else time.time() + timeout
    interrupted = tuning.run_search(search, jobs)
    result = tuning.outcome(search, interrupted)
    print(f"forecast: {result.summary['trials']} trials "
          f"({', '.join(f'{n} {k}' for k, n in result.summary['states'].items())}); best: "
          f"trial {result.best.number}, validation score {result.best.value:.6g}: "
          f"{tuning.describe_params(result.best.params)}", file=sys.stderr)
    print("forecast: training the best configuration again to write it", file=sys.stderr)

    from forecast.bundle import write_bundle
    from forecast.training import run_training

    trained = run_training(data, result.config)
    trained.config.facts["tuning"] = result.summary
    out = write_bundle(target, trained, data, extra={"trials.csv": result.table},
                       default_dir=model_dir is None)
    report_test_metrics(trained, data, out, as_json,
                        extra={"tuning": result.summary} if as_json else None)
    if interrupted:
        print("forecast: the search was interrupted; run the same command again to resume "
              "it", file=sys.stderr)
    return interrupted or 0


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


def format_segment(segment: dict, multi: bool, title: str, per_series: bool = False) -> str:
    """One segment's scores as text: the familiar table for one series; for a panel the
    aggregate over series (and, with ``per_series``, a row per series)."""
    from forecast.metrics import (format_aggregate, format_interval_aggregate,
                                  format_intervals, format_per_series, format_scores)

    if not multi:
        scores = next(iter(segment["series"].values()))
        text = format_scores(scores, title=title)
        if scores.get("intervals"):
            text += "\n" + format_intervals(scores["intervals"],
                                            band_name(scores["intervals"].get("band")))
        return text
    text = format_aggregate(segment["aggregate"], title=title)
    if "intervals" in segment["aggregate"]:
        band = next((s["intervals"].get("band") for s in segment["series"].values()
                     if s.get("intervals")), None)
        text += "\n" + format_interval_aggregate(segment["aggregate"]["intervals"],
                                                 band_name(band))
    if per_series:
        text += "\n" + format_per_series(segment["series"])
    return text


def band_name(band: Optional[str]) -> str:
    return {"quantiles": "model: the network's quantiles, CQR-calibrated",
            "conformal": "model: rolling-volatility conformal band around its forecast"
            }.get(band or "", "")


def single_series_view(result: dict, multi: bool) -> dict:
    """For a one-series model, each segment is that series' scores, as before panels."""
    if multi:
        return result
    return {k: (next(iter(v["series"].values())) if isinstance(v, dict) and "series" in v
                else v) for k, v in result.items()}


def open_model(model: Optional[Path]):
    """Read a model directory (default: the newest under models/, named on stderr)."""
    from forecast.bundle import latest_model_dir, read_bundle

    if model is None:
        model = latest_model_dir()
        note(f"using model {model}")
    return read_bundle(model)


def load_panel(sources: Optional[list[str]], bundle, series: Optional[str] = None,
               series_column: Optional[str] = None, wide: Optional[bool] = None,
               recent: bool = False, **reading):
    """The prices to use: PRICES as given (one panel, read with ``reading``: date_column,
    missing, date_format, decimal; None for the model's own), or the model's own data.csv
    (``recent``: only the rows a future forecast reads); ``--series`` restricts it."""
    from forecast.predict import read_for_model

    panel = read_for_model(sources, bundle, series_column=series_column, wide=wide,
                           **reading) if sources else bundle.data(recent=recent)
    return panel.select(split_list(series)) if series else panel


def check_predict_options(steps: Optional[int], backtest: bool, step: Optional[int]) -> int:
    """Refuse options that the chosen mode would ignore; returns the backtest step."""
    if backtest and steps is not None:
        raise UsageError("--steps is for future forecasts and --backtest forecasts every row "
                         "instead; drop one (use --step K for the K-step-ahead backtest)")
    if step is not None and not backtest:
        raise UsageError("--step applies only with --backtest; for future forecasts use "
                         "--steps N")
    return 1 if step is None else step


#: What `predict --out` writes, by the file's suffix.
OUT_FORMATS = (".csv", ".parquet")


def check_out_file(out: Optional[Path], inputs: Optional[list[str]] = None,
                   model: Optional[Path] = None) -> Optional[Path]:
    """Refuse up front (exit 2) an --out that predict cannot or must not write: one of its
    ``inputs`` (PRICES), a file in the ``model`` directory or any other, a missing folder."""
    if out is None:
        return None
    from forecast.bundle import check_name_length, check_out_target

    # first: a name too long fails every other look at it (write_table_file adds
    # ".", "." and 8 characters for its temporary file beside it)
    check_name_length(out, "--out", len("..") + 8)
    if out.suffix.lower() not in OUT_FORMATS:
        raise OutputError(f"--out {out}: predict writes {', '.join(OUT_FORMATS)} files; end the "
                          "file name with one of them")
    if out.is_symlink() or (out.exists() and not out.is_file()):
        raise OutputError(f"--out {out} exists and is not a file; forecast replaces only a "
                          "file there")
    check_out_target(out, "--out", inputs or [], model)
    return out


def write_csv(table: Any, as_json: bool, out: Optional[Path] = None) -> None:
    """A forecast table on stdout: CSV (a leading series column for a panel), or JSON
    records with --json; with ``out``, the same table to that file (CSV or Parquet by its
    suffix, typed dates and numbers in Parquet), written atomically."""
    if out is not None:
        write_table_file(table, out)
        return
    daily = (table["date"].dt.normalize() == table["date"]).all()
    table = table.assign(date=table["date"].dt.strftime("%Y-%m-%d" if daily else
                                                        "%Y-%m-%dT%H:%M:%S"))
    emit(table.to_dict(orient="records"), as_json,
         lambda _: table.to_csv(index=False, float_format="%.10g", lineterminator="\n"))


def write_table_file(table: Any, out: Path) -> None:
    """Write ``table`` to ``out`` through a temporary file renamed into place, so a reader
    never sees half a file and a failure leaves any older file as it was."""
    import tempfile

    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
        os.close(fd)
        if out.suffix.lower() == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            daily = (table["date"].dt.normalize() == table["date"]).all()
            table.assign(date=table["date"].dt.strftime(
                "%Y-%m-%d" if daily else "%Y-%m-%dT%H:%M:%S")).to_csv(
                tmp, index=False, float_format="%.10g", lineterminator="\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, out)
    except OSError as exc:
        raise OutputError(f"--out {out}: cannot write ({exc.strerror}); choose another "
                          "path") from None
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    note(f"wrote {out}")


@app.command()
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
    series: SeriesOpt = None,
    series_column: SeriesColumnOpt = None,
    wide: WideOpt = None,
    engine: EngineOpt = "auto",
    date_column: ModelDateColumnOpt = None,
    missing: ModelMissingOpt = None,
    date_format: ModelDateFormatOpt = None,
    decimal: ModelDecimalOpt = None,
    encoding: EncodingOpt = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Write the table to this file instead of stdout: .csv or "
                            ".parquet, atomically.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Forecast the next values after the last row, or backtest every row (CSV on stdout)."""
    from forecast.predict import Forecaster, load_predictor

    step = check_predict_options(steps, backtest, step)
    check_interval(interval)
    if out is not None and as_json:
        raise UsageError("--json writes to stdout and --out to a file; drop one")
    bundle = open_model(model)
    out = check_out_file(out, prices, bundle.path)   # refused before any work, if it must be
    data = load_panel(prices, bundle, series, series_column, wide, recent=not backtest,
                      date_column=date_column, missing=missing, date_format=date_format,
                      decimal=decimal, encoding=encoding)
    forecaster = Forecaster(bundle, data, load_predictor(bundle, engine))
    write_csv(forecaster.backtest(step, interval, quantiles) if backtest
              else forecaster.future(steps, interval, quantiles), as_json, out)


@app.command()
def evaluate(
    prices: OptPricesArg = None,
    model: ModelOpt = None,
    interval: Annotated[Optional[float], typer.Option(
        "--interval", help=f"Level of the prediction interval scored beside the "
                           f"rolling-volatility conformal and GARCH(1,1) intervals (default "
                           f"{DEFAULT_INTERVAL}, or the widest the model's calibration "
                           "supports).")] = None,
    series: SeriesOpt = None,
    per_series: Annotated[bool, typer.Option(
        "--per-series", help="For a panel, also one row per series.")] = False,
    series_column: SeriesColumnOpt = None,
    wide: WideOpt = None,
    engine: EngineOpt = "auto",
    date_column: ModelDateColumnOpt = None,
    missing: ModelMissingOpt = None,
    date_format: ModelDateFormatOpt = None,
    decimal: ModelDecimalOpt = None,
    encoding: EncodingOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score walk-forward one-step forecasts over PRICES beside the naive and drift forecasts."""
    from forecast.predict import SEGMENTS, Forecaster, default_level, load_predictor

    check_interval(interval)
    bundle = open_model(model)
    data = load_panel(prices, bundle, series, series_column, wide, date_column=date_column,
                      missing=missing, date_format=date_format, decimal=decimal,
                      encoding=encoding)
    level = default_level(bundle.calibration) if interval is None else interval
    result = Forecaster(bundle, data, load_predictor(bundle, engine)).evaluate(level)
    titles = {"all": "all rows", "train": "rows the model was trained on (in-sample)",
              "validation": "validation rows (used for early stopping and intervals)",
              "test": "test rows (never seen in training)"}

    def text(res: dict) -> str:
        return "\n\n".join(format_segment(res[name], data.multi, f"{titles[name]}:", per_series)
                            for name in ("all", *SEGMENTS) if name in res)
    if as_json:
        emit(single_series_view(result, data.multi), True, str)
    else:
        emit(result, False, text)


@app.command()
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
    series: SeriesOpt = None,
    series_column: SeriesColumnOpt = None,
    wide: WideOpt = None,
    engine: EngineOpt = "auto",
    date_column: ModelDateColumnOpt = None,
    missing: ModelMissingOpt = None,
    date_format: ModelDateFormatOpt = None,
    decimal: ModelDecimalOpt = None,
    encoding: EncodingOpt = None,
) -> None:
    """Draw actual vs predicted prices, the test segment, errors and loss curves to a figure
    (for a panel: small multiples of the test segment and the spread of MAE / naive)."""
    from forecast.plotting import check_out, draw_figure
    from forecast.predict import Forecaster, default_level, load_predictor

    check_interval(interval)
    bundle = open_model(model)
    out = check_out(out or bundle.path / "plot.png", prices, bundle.path)  # before any work
    data = load_panel(prices, bundle, series, series_column, wide, date_column=date_column,
                      missing=missing, date_format=date_format, decimal=decimal,
                      encoding=encoding)
    forecaster = Forecaster(bundle, data, load_predictor(bundle, engine))
    level = default_level(bundle.calibration, max(steps or 20, bundle.config.model.horizon)) \
        if interval is None else interval
    source = bundle.config.facts.get("source", data.source) if not prices else data.source
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


def leave(code: int) -> NoReturn:
    """Exit with ``code`` once stdout and stderr are flushed, without the interpreter's
    teardown: TensorFlow's and pyarrow's C++ threads, destroyed during it, can abort the
    process on a loaded machine ('terminate called without an active exception', exit
    134) after the command has done everything right. Every file is closed by then."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError) as exc:
        if code == 0:  # data left unwritten that nothing reported yet (--version > /dev/full)
            print(f"forecast: error: cannot write the output to stdout "
                  f"({getattr(exc, 'strerror', None) or exc}); check the disk or the "
                  "redirection", file=sys.stderr)
            code = 2
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


class ClosedStream(OSError):
    """Reading stdin or writing stdout that was closed when forecast started (``<&-``)."""


class _ClosedFile(io.RawIOBase):
    """What ``sys.stdin`` or ``sys.stdout`` reads or writes when it was closed at start:
    every read or write is a ClosedStream error that says so."""

    def __init__(self, fd: int, name: str, hint: str):
        super().__init__()
        self._fd, self.name, self._hint = fd, name, hint

    def fileno(self) -> int:
        return self._fd

    def readable(self) -> bool:
        return self._fd == 0

    def writable(self) -> bool:
        return self._fd != 0

    def readinto(self, buffer) -> int:
        raise ClosedStream(errno.EBADF, f"{self.name} is closed{self._hint}")

    def write(self, data) -> int:
        raise ClosedStream(errno.EBADF, f"{self.name} is closed{self._hint}")


def reopen_closed_streams() -> None:
    """Put /dev/null on a stdin, stdout or stderr that was closed at start (``<&-``,
    ``>&-``, ``2>&-``), as daemons do: else the next file opened takes its number, and
    messages land in that file (a CSV being written) or data in the messages. A closed
    stderr drops the messages; reading a closed stdin or writing a closed stdout is an
    error that says so (``ClosedStream``)."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None and _is_open(fd):
            continue
        null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        if fd == 0:
            sys.stdin = io.TextIOWrapper(io.BufferedReader(_ClosedFile(
                0, name, "; pipe the prices in, or name a file instead of -")))
        elif fd == 1:
            sys.stdout = io.TextIOWrapper(io.BufferedWriter(_ClosedFile(1, name, "")))
        else:
            sys.stderr = open(2, "w", closefd=False, errors="backslashreplace")


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
