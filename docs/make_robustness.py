"""Regenerate docs/robustness.md: run every catalogued bad input and damaged model
directory through the real CLI and record the exit code and the message.

    .venv/bin/python docs/make_robustness.py > docs/robustness.md

The cases are the test suite's own catalogues (tests/data/test_sources.py,
tests/data/test_dates.py, tests/test_cli.py, tests/test_robustness.py, tests/test_bundle.py,
tests/test_plotting.py, tests/test_predict.py),
so this page shows exactly what the tests assert on.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    from typer.testing import CliRunner

    from forecast.cli import app
    from tests.conftest import TINY, price_frame
    from tests.test_bundle import MODEL_DIR_TARGETS, make_target
    from tests.data.test_dates import READ_CASES, read_case
    from tests.data.test_sources import BAD_INPUTS
    from tests.test_plotting import PLOT_ERRORS
    from tests.test_predict import PREDICT_ERRORS
    from tests.test_robustness import DAMAGE, lambda_model_file

    runner = CliRunner()
    rows = first_rows = []
    sections = {}

    def record(what, *args, input=None, answer=None):
        result = runner.invoke(app, [str(a) for a in args], input=input, prog_name="forecast")
        message = (result.stderr.strip().splitlines() or [""])[-1]
        if result.exit_code == 0 and answer is not None:
            message = answer(result)
        message = message.replace(str(work) + "/", "").replace(str(work), "")
        message = message.replace("|", "\\|")
        options = " ".join(str(a) for a in args[1:]
                           if str(a).startswith("--") and str(a) not in TINY)
        rows.append(f"| {what} | `forecast {args[0]}{' ' + options if options else ''}` | "
                    f"{result.exit_code} | {message} |")

    work = Path(tempfile.mkdtemp())
    os.chdir(work)
    try:
        for name, content, args, _ in BAD_INPUTS:
            path = work / "bad.csv"
            path.unlink(missing_ok=True)
            if content is not None:
                path.write_bytes(content)
            record(f"CSV: {name}", "inspect", "bad.csv", *args)
        price_frame(300).to_csv(work / "prices.csv", index=False)
        zero = price_frame(300)
        zero.loc[100, "Close"] = 0.0
        zero.to_csv(work / "zero.csv", index=False)
        record("CSV: zero price with log-return", "train", "zero.csv")
        record("too few rows for the window", "train", "prices.csv", "--window", "400")
        record("--device gpu without a GPU", "train", "prices.csv", "--device", "gpu")
        record("unknown cell", "train", "prices.csv", "--cell", "tcn")
        record("unknown option", "train", "prices.csv", "--nope")
        runner.invoke(app, ["train", "prices.csv", "--model-dir", "good", *TINY])
        record("predict: unknown model directory", "predict", "--model", "nowhere")
        (work / "other.csv").write_text("Date,Price\n2020-01-02,1\n2020-01-03,2\n")
        record("predict: file without the model's columns", "predict", "other.csv", "--model",
               "good")
        for name in sorted(DAMAGE):
            shutil.rmtree("m", ignore_errors=True)
            shutil.copytree("good", "m")
            DAMAGE[name][0](work / "m")
            record(f"model dir: {name}", "predict", "--model", "m")
        shutil.rmtree("m")
        shutil.copytree("good", "m")
        (work / "m" / "model.keras").write_bytes(b"not a zip")
        record("model dir: model.keras is not a model", "predict", "--model", "m", "--engine",
               "keras")
        lambda_model_file(work / "m" / "model.keras")
        record("model dir: model.keras holds a Lambda layer", "predict", "--model", "m",
               "--engine", "keras")

        sections["Reading dates and numbers: one decision per column"] = rows = []
        for name, content, args, _ in READ_CASES:
            def read_as(result, content=content, args=args):
                prices = read_case(content, args)
                cells = [f"{d:%Y-%m-%d %H:%M}".replace(" 00:00", "") + f" = {v:.10g}"
                         for d, v in zip(prices.frame.index, prices.frame[prices.target])]
                return "read as " + ", ".join(cells)
            record(name, "inspect", "-", *args, input=content, answer=read_as)

        sections["Where `train` writes: `--model-dir` (nothing of the user's is touched)"] = \
            rows = []
        for name, make, _ in MODEL_DIR_TARGETS:
            place = work / "targets" / name.replace(" ", "-")
            place.mkdir(parents=True)
            shutil.copy(work / "prices.csv", place / "prices.csv")
            os.chdir(place)
            target = make_target(place, make, work / "good")
            record(name, "train", "prices.csv", "--model-dir", target, *TINY)
            os.chdir(work)
        shutil.copytree("good", "models/prices-lstm")
        os.makedirs("b")
        price_frame(300, seed=1).to_csv("b/prices.csv", index=False)
        record("b/prices.csv when models/prices-lstm holds prices.csv's model", "train",
               "b/prices.csv")

        sections["`plot` mistakes"] = rows = []
        for name, make, _ in PLOT_ERRORS:
            record(name, "plot", "--model", "good", *make(work))

        sections["`predict` options"] = rows = []
        for args, _ in PREDICT_ERRORS:
            full = [*args] if "--model" in args else ["--model", "good", *args]
            if "--date-format" in args:
                full.insert(0, "good/data.csv")
            record(" ".join(args), "predict", *full)
        record("--interval 0.5 on the same model", "predict", "--model", "good", "--interval",
               "0.5", answer=lambda result: "stdout: " + " / ".join(result.stdout.splitlines()))
    finally:
        os.chdir(ROOT)
        shutil.rmtree(work, ignore_errors=True)

    print("# Robustness catalogue\n")
    print("What `forecast` answers to bad input and damaged model directories. Generated by "
          "`.venv/bin/python docs/make_robustness.py > docs/robustness.md` from the test "
          "suite's own catalogues; every error row is also a test asserting the exit code, a "
          "single `forecast: error:` line, nothing on stdout and no traceback, and every "
          "\"read as\" row a test of exactly those dates and values.\n")
    print("| input | command | exit | message (stderr) |\n|---|---|---|---|")
    print("\n".join(first_rows))
    for title, section in sections.items():
        print(f"\n## {title}\n")
        print("| case | command | exit | answer (stderr, or what is read) |\n|---|---|---|---|")
        print("\n".join(section))
    print("""
## Beyond the table (each a test)

| situation | what happens | test |
|---|---|---|
| arbitrary bytes, text, CSV-shaped tables (hypothesis) | a valid, date-sorted, finite frame or a `ForecastError`; `inspect` exits 0 or 2, never a traceback | `tests/data/test_fuzz.py` |
| `forecast inspect /dev/urandom`, `cat /dev/urandom \\| forecast inspect -`, a 400 MB binary file | refused from its first bytes: exit 2, `looks like a binary file (NUL byte at offset N)`; memory stays at start-up's | `tests/test_robustness.py` |
| a NUL byte late in an otherwise-CSV file (a path or a pipe) | exit 2, `line N: a NUL byte, binary data in what began as text; remove it, or export the file again as CSV text` | `tests/test_robustness.py` |
| SIGTERM or Ctrl-C while reading an endless pipe of valid rows | exit 143 `forecast: error: terminated` / 130 `forecast: interrupted`, no traceback | `tests/test_robustness.py` |
| a long file whose tickers never share a date (OLD, then NEW), or trade at different UTC offsets | two series: a column named like a series column (symbol, ticker, name, ...) is the series column whether or not dates repeat | `tests/data/test_layouts.py` |
| numeric ticker codes (7203, 0005) | read as text, leading zeros kept (a named column, or `--series-column`) | `tests/data/test_layouts.py` |
| a series column the detector does not list (`Market`) | taken by its shape (dates repeat across labels, unique within each), with a warning; two such columns, or a shape that is not clear, refused naming `--series-column` | `tests/data/test_layouts.py` |
| `--series '"A,B",C'` | chooses the ticker named `A,B` (the list is one CSV row) | `tests/data/test_panel.py` |
| `--test-start 01.02.2018`, `--val-start` | read in the day/month order of `--date-format` or of the file's dates; refused when nothing settles it, with both ISO spellings | `tests/data/test_dates.py` |
| a value that overflows after scaling | refused before training, naming the line and column | `tests/test_training.py` |
| training loss becomes NaN | training stops, exit 1, `the training loss became NaN or infinite in epoch N; nothing was written` | `tests/test_training.py` |
| Ctrl-C (SIGINT) during `train` | exit 130; no temporary directory; the older model of the same name is byte-for-byte intact | `tests/test_robustness.py` |
| SIGTERM during `train` | exit 143; same guarantees | `tests/test_robustness.py` |
| two `train`s into one `--model-dir` at once | one complete model from one run (config, Keras file and NumPy weights agree) | `tests/test_robustness.py` |
| two `predict`s reading one model at once | both succeed with identical output | `tests/test_robustness.py` |
| `predict ... \\| head -n 3` | three lines, quiet exit, no BrokenPipeError | `tests/test_predict.py` |
| `plot --out` | written to a temporary name in the same directory, then renamed, in the format the suffix names (.png, .pdf, .svg) | `tests/test_plotting.py` |
| `predict ... > /dev/full` (stdout cannot be written) | exit 2, `cannot write the output to stdout (No space left on device); check the disk or the redirection` | `tests/test_cli.py` |
| out of memory in any command | exit 1, `out of memory; try a smaller input or smaller options (for train: --batch-size, --window, --units)` | `tests/test_cli.py` |
| a write of the model directory that fails midway (disk full) | exit 2, `cannot write the model directory M (...); nothing was written`; the older model intact, the temporary directory removed | `tests/test_bundle.py` |
| a user file put into the model directory while `train` runs | checked again under the lock: exit 2, the file and the older model kept | `tests/test_bundle.py` |
| `train` (any) | leaves no `.NAME.lock` or temporary file: the lock is taken on the parent directory itself | `tests/test_bundle.py`, `tests/test_robustness.py` |
| `--json` of `train`, `evaluate`, `predict`, and `metrics.json`, `config.json` | strict JSON: `null` for undefined figures (MASE or MAE/naive of a flat series, the direction of a forecast that predicts no move), never `NaN` or `Infinity` | `tests/test_cli.py`, `tests/test_metrics.py`, `tests/test_bundle.py` |
| the naive forecast's (or any no-move forecast's) direction score | `-` in tables, `null` in JSON | `tests/test_metrics.py` |
| a constant price series | trains, evaluates (figures that divide by 0 are `-` / `null`) and plots (linear loss axis) | `tests/test_cli.py` |
| `evaluate` or `plot` without `--interval` on a model with few validation rows | the widest level its calibration supports, said on stderr | `tests/test_predict.py` |
| `predict --steps 20000` | linear time: each step feeds the last window of a fixed buffer | `tests/test_predict.py` |
| intraday bars (09:30-15:30, nights and weekends missing) | future timestamps follow the bar times and weekdays the data shows | `tests/test_predict.py` |
| timestamps with UTC offsets (`2019-01-07 00:00+09:00`) | the wall-clock time is kept (a Monday stays a Monday; no weekend in future dates) | `tests/test_predict.py`, `tests/data/test_dates.py` |
| any error message | advises only flags of the command that failed, or names the other command (`` `forecast train --target-transform level` ``) | `tests/data/test_sources.py`, `tests/data/test_dates.py`, `tests/test_predict.py`, `tests/test_plotting.py`, `tests/test_cli.py` |
| a failing command that had warnings (`train few.csv --missing drop`) | one line: `few.csv has 4 usable row(s); ... need at least 31; ... (after: dropped 1 row(s) with empty cells in few.csv (--missing drop))` | `tests/test_cli.py` |
| `predict` on a file in another format than the training file | what the file's own columns settle is read so; what they leave open, as the training file was (`--date-format`, `--decimal`); options given override | `tests/test_predict.py` |
| a file whose used rows are all empty (`Date,Close\\n2000-01-01,`) | exactly one line: `<stdin> has no usable rows: dropped 1 leading row(s) of <stdin> with empty cells and no row before them to fill from (--missing ffill)` | `tests/data/test_fuzz.py` |
| `make test` / `make fuzz` | Hypothesis profile `ci` (derandomized, the same examples every run) / `fuzz` (5000 random examples) | `tests/conftest.py`, `tests/data/test_fuzz.py` |""")


if __name__ == "__main__":
    main()
