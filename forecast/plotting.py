"""Report figures in price units: the whole series, the test segment up close, errors and
the training curves. matplotlib with the Agg backend (headless); nothing here trains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast import baselines, metrics
from forecast.bundle import Bundle
from forecast.errors import OutputError
from forecast.files import write_atomically
from forecast.model_dirs import check_name_length, check_out_target
from forecast.predict import Forecaster, segments

#: The figure formats ``plot --out`` writes, by file suffix.
FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}

COLORS = {"actual": "#222222", "model": "#d62728", "naive": "#1f77b4", "future": "#9467bd",
          "train": "#2ca02c", "validation": "#ff7f0e", "test": "#7f7f7f"}


def plot_data(forecaster: Forecaster, level: float = 0.8, future_steps: int | None = None
              ) -> dict[str, Any]:
    """Everything the one-series figure draws, in price units (the panel's first series).

    Returns:
        dict with "backtest" (date, actual, predicted, lower, upper, naive, segment),
        "future" (date, predicted, lower, upper), "history" (epoch, loss, val_loss),
        "best_epoch" (0: the starting forecast was kept), "bounds" (segment -> (first date,
        last date)), "scores" (test MAE of model, naive, drift) and "intervals" (the test
        rows' interval figures of model, rolling conformal and GARCH(1,1), or None).
    """
    bundle = forecaster.bundle
    table = forecaster.backtest(1, level)
    _, series, rows = forecaster.backtest_rows(1)
    first = series == 0
    table, rows = table[first].reset_index(drop=True), rows[first]
    target = forecaster.prices.target_of(0)
    table["naive"] = target[rows - 1]
    facts = bundle.config.facts
    table["segment"] = segments(table["date"], facts.val_start, facts.test_start)
    steps = future_steps or max(bundle.config.model.horizon, 20)
    future = forecaster.future(steps, level) if len(forecaster.prices.input_columns) == 1 \
        else forecaster.future(bundle.config.model.horizon, level)
    if "series" in future:
        future = future[future["series"] == forecaster.prices.names[0]]
    bounds = {name: (group["date"].iloc[0], group["date"].iloc[-1])
              for name, group in table.groupby("segment", sort=False)}
    test = table[table["segment"] == "test"]
    test_rows = rows[(table["segment"] == "test").to_numpy()]
    scores = {} if not len(test) else {
        "model": metrics.mae(test["actual"], test["predicted"]),
        "naive": metrics.mae(test["actual"], test["naive"]),
        "drift": metrics.mae(test["actual"], baselines.drift_forecast(target, test_rows))}
    return {"backtest": table, "future": future, "history": bundle.history,
            "best_epoch": facts.best_epoch,
            "bounds": bounds, "scores": scores, "level": level,
            "intervals": test_intervals(forecaster, level, forecaster.prices.names[0])}


def test_intervals(forecaster: Forecaster, level: float, name: str | None = None):
    """The test rows' interval figures (``Forecaster.evaluate``): one series' comparison
    for ``name``, else the aggregate over series; None without test rows."""
    test = forecaster.evaluate(level).get("test")
    if test is None:
        return None
    if name is not None:
        return test["series"].get(name, {}).get("intervals")
    return test["aggregate"].get("intervals")


def interval_line(figures: dict | None, multi: bool = False) -> str:
    """The title's line on the test intervals: the model's coverage and interval score
    against GARCH(1,1)'s (and the rolling conformal band's)."""
    if not figures:
        return ""
    pct = f"{figures['level']:.0%}"
    model, garch, rolling = (figures.get(k) for k in ("model", "garch", "rolling_conformal"))
    if multi:
        text = (f"test {pct} intervals, median score / naive MAE: model "
                f"{model['median_rel_interval_score']:.3f}")
        if garch and garch["series"]:
            text += f", GARCH(1,1) {garch['median_rel_interval_score']:.3f}"
        if rolling and rolling["series"]:
            text += f", rolling conformal {rolling['median_rel_interval_score']:.3f}"
        text += f"; pooled coverage: model {model['coverage']:.1%}"
        if garch and garch["series"]:
            text += (f", GARCH {garch['coverage']:.1%}; model beats GARCH on "
                     f"{figures['share_model_beats_garch']:.0%} of series")
        return text
    band = "quantiles" if figures.get("band") == "quantiles" else "conformal"
    text = (f"test {pct} interval ({band}): covers {model['coverage']:.1%}, "
            f"interval score {model['interval_score']:.3g}")
    if garch:
        text += f" vs GARCH(1,1) {garch['interval_score']:.3g} ({garch['coverage']:.1%})"
    else:
        text += " (no GARCH(1,1): too few training rows)"
    if rolling:
        text += f", rolling conformal {rolling['interval_score']:.3g}"
    return text


def draw_figure(forecaster: Forecaster, source: str, out: Path, level: float = 0.8,
                future_steps: int | None = None, dpi: int = 100) -> Path:
    """The report figure for a model and its data: the four-panel one-series figure, or
    for a panel, small multiples of the test segment and the spread of MAE / naive."""
    if not forecaster.prices.multi:
        data = plot_data(forecaster, level, future_steps)
        return draw(data, title_for(forecaster.bundle, source, data["scores"],
                                    data["intervals"]), out, dpi=dpi)
    data = panel_plot_data(forecaster, level)
    data["intervals"] = test_intervals(forecaster, level)
    return draw_panel(data, panel_title(forecaster.bundle, source, data), out, dpi=dpi)


#: Most series drawn as small multiples (``--series`` chooses which).
SMALL_MULTIPLES = 12


def panel_plot_data(forecaster: Forecaster, level: float = 0.8) -> dict[str, Any]:
    """What the panel figure draws: the test-segment backtest of up to SMALL_MULTIPLES
    series (in price units, with the naive forecast and the band) and every series' test
    MAE / naive for model and drift.

    Returns:
        dict with "backtest" (series, date, actual, predicted, lower, upper, naive, segment),
        "shown" (series names drawn), "rel_mae" (DataFrame: series, model, drift), "level".
    """
    table = forecaster.backtest(1, level)
    _, series, rows = forecaster.backtest_rows(1)
    at = forecaster.prices.offsets[series] + rows
    table["naive"] = forecaster.target[at - 1]
    facts = forecaster.bundle.config.facts
    table["segment"] = segments(table["date"], facts.val_start, facts.test_start)
    test = table[table["segment"] == "test"]
    rel = []
    for name, group in test.groupby("series", sort=False):
        naive = metrics.mae(group["actual"], group["naive"])
        s = forecaster.prices.names.index(name)
        drift = baselines.drift_forecast(forecaster.prices.target_of(s),
                                       rows[(series == s) & (table["segment"] == "test").to_numpy()])
        rel.append({"series": name,
                    "model": metrics.mae(group["actual"], group["predicted"]) / naive,
                    "drift": metrics.mae(group["actual"], drift) / naive})
    shown = list(dict.fromkeys(test["series"]))[:SMALL_MULTIPLES]
    return {"backtest": test[test["series"].isin(shown)], "shown": shown,
            "rel_mae": pd.DataFrame(rel, columns=["series", "model", "drift"]), "level": level}


def panel_title(bundle: Bundle, source: str, data: dict[str, Any]) -> str:
    """The title of a panel's figure: the model and its pooled scores."""
    m = bundle.config.model
    rel = data["rel_mae"]
    text = (f"{Path(source.split(', ')[0]).name}: one {m.cell.upper()} x{m.layers} "
            f"({m.units} units) over {len(rel)} series, window {m.window}")
    if bundle.config.facts.best_epoch == 0:
        text += not_kept(bundle)
    if len(rel):
        text += (f"\ntest MAE / naive, median over series: model {rel['model'].median():.4f}, "
                 f"drift {rel['drift'].median():.4f}; model at or below naive on "
                 f"{(rel['model'] <= 1).mean():.0%} of series")
    line = interval_line(data.get("intervals"), multi=True)
    return text + (f"\n{line}" if line else "")


def draw_panel(data: dict[str, Any], title: str, out: Path, dpi: int = 100) -> Path:
    """Small multiples of the test segment (actual, model, naive, band) and a histogram of
    per-series test MAE / naive, written to ``out`` atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = data["shown"]
    cols = 4 if len(shown) > 4 else max(len(shown), 1)
    grid_rows = -(-len(shown) // cols) if shown else 1
    fig = plt.figure(figsize=(4 * cols + 1, 2.6 * grid_rows + 3.2), layout="constrained")
    grid = fig.add_gridspec(grid_rows + 1, cols, height_ratios=[3] * grid_rows + [3.2])
    fig.suptitle(title, fontsize=12)
    pct = f"{data['level']:.0%}"
    table = data["backtest"]
    for i, name in enumerate(shown):
        _draw_series(fig.add_subplot(grid[i // cols, i % cols]),
                     table[table["series"] == name], str(name), pct, legend=i == 0)
    _draw_rel_mae(fig.add_subplot(grid[grid_rows, :]), data["rel_mae"])
    return save_figure(fig, out, dpi)


def _draw_series(ax, rows: pd.DataFrame, name: str, pct: str, legend: bool) -> None:
    """One series' test segment: actual, model, naive and the band."""
    import matplotlib.dates as mdates

    ax.fill_between(rows["date"], rows["lower"], rows["upper"], color=COLORS["model"],
                    alpha=0.15, lw=0, label=f"{pct} interval")
    ax.plot(rows["date"], rows["actual"], color=COLORS["actual"], lw=0.8, label="actual")
    ax.plot(rows["date"], rows["naive"], color=COLORS["naive"], lw=0.6, alpha=0.7,
            label="naive")
    ax.plot(rows["date"], rows["predicted"], color=COLORS["model"], lw=0.7, label="model")
    ax.set_title(name, fontsize=9, loc="left")
    locator = mdates.AutoDateLocator(minticks=3, maxticks=5)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.25, lw=0.5)
    ax.spines[["top", "right"]].set_visible(False)
    if legend:
        ax.legend(fontsize=7, frameon=False, loc="upper left")


def _draw_rel_mae(hist, rel) -> None:
    """A histogram of per-series test MAE / naive, the model's beside drift's."""
    if len(rel):
        values = np.concatenate([rel["model"], rel["drift"]])
        bins = np.linspace(values.min(), values.max(), 30) if np.ptp(values) > 0 else 10
        hist.hist(rel["model"], bins=bins, color=COLORS["model"], alpha=0.6, label="model")
        hist.hist(rel["drift"], bins=bins, color=COLORS["naive"], alpha=0.4, label="drift")
        hist.axvline(1.0, color="#555555", ls=":", lw=1)
        hist.text(1.0, 1.0, " naive", transform=hist.get_xaxis_transform(), va="top",
                  fontsize=8)
    hist.set_xlabel("test MAE / naive MAE, per series (below 1: better than naive)")
    hist.set_ylabel("series")
    hist.legend(fontsize=8, frameon=False)
    hist.grid(alpha=0.25, lw=0.5)


def check_out(out: str | Path, inputs: list[str] | None = None,
              model: str | Path | None = None) -> Path:
    """Refuse up front (OutputError, exit 2) a ``--out`` that plot cannot or must not write:
    an unknown suffix, an existing directory or other non-file, an unwritable place or a
    missing folder, one of its ``inputs``, a file in a model directory but ``model``'s own
    plot.png."""
    out = Path(out)
    # first: a name too long fails every other look at it (save_figure adds ".", "." and 8
    # characters and the suffix for its temporary file beside it)
    check_name_length(out, "--out", len("..") + 8 + len(out.suffix))
    if out.is_symlink() or (out.exists() and not out.is_file()):
        kind = "a directory" if out.is_dir() else "not a regular file"
        raise OutputError(f"--out {out} is {kind}; forecast replaces only a file there: name a "
                          f"file such as {out / 'plot.png' if out.is_dir() else 'plot.png'}")
    if out.suffix.lower() not in FORMATS:
        raise OutputError(f"--out {out}: forecast writes {', '.join(FORMATS)} figures; end the "
                          "file name with one of them")
    check_out_target(out, "--out", inputs or [], None if model is None else Path(model),
                     own="plot.png")
    return out


def draw(data: dict[str, Any], title: str, out: Path, dpi: int = 100) -> Path:
    """Draw the report figure and write it to ``out`` atomically, in the format its suffix
    names (``FORMATS``): the whole series, the test segment up close with its band, the
    test errors, and the training curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    table = data["backtest"]
    pct = f"{data['level'] * 100:.4g}%"
    fig = plt.figure(figsize=(14, 11), layout="constrained")
    grid = fig.add_gridspec(3, 3, height_ratios=[3, 3, 2])
    overview = fig.add_subplot(grid[0, :])
    zoom = fig.add_subplot(grid[1, :])
    errors = fig.add_subplot(grid[2, :2], sharex=zoom)
    losses = fig.add_subplot(grid[2, 2])
    fig.suptitle(title, fontsize=13)
    test = table[table["segment"] == "test"]
    zoom_rows = test if len(test) else table
    _draw_overview(overview, data, test, pct)
    _draw_zoom(zoom, data, zoom_rows, pct)
    _draw_errors(errors, zoom_rows)
    _draw_losses(losses, data)
    for ax in (overview, zoom, errors):
        locator = mdates.AutoDateLocator(minticks=4, maxticks=12)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    for ax in (overview, zoom, errors, losses):
        ax.grid(alpha=0.25, lw=0.5)
        ax.spines[["top", "right"]].set_visible(False)
    return save_figure(fig, out, dpi)


def _draw_overview(overview, data: dict[str, Any], test: pd.DataFrame, pct: str) -> None:
    """The whole series, segments shaded, the future forecast after the last row."""
    table, future = data["backtest"], data["future"]
    overview.plot(table["date"], table["actual"], color=COLORS["actual"], lw=0.8,
                  label="actual", zorder=3)
    overview.plot(table["date"], table["predicted"], color=COLORS["model"], lw=0.6,
                  alpha=0.6, label="model, one step ahead", zorder=2)
    overview.plot(test["date"], test["naive"], color=COLORS["naive"], lw=0.5, alpha=0.6,
                  label="naive (last value), test")
    for name, (start, end) in data["bounds"].items():
        overview.axvspan(start, end, color=COLORS[name], alpha=0.08, lw=0)
        overview.text(start, 1.0, f" {name}", transform=overview.get_xaxis_transform(),
                      va="top", fontsize=9, color=COLORS[name])
    _future(overview, future, pct)
    overview.set_ylabel("price")
    overview.legend(loc="upper left", bbox_to_anchor=(0.0, 0.93), fontsize=8, frameon=False)


def _draw_zoom(zoom, data: dict[str, Any], zoom_rows: pd.DataFrame, pct: str) -> None:
    """The test segment up close, with the interval band."""
    future = data["future"]
    band = (data.get("intervals") or {}).get("band")
    kind = {"quantiles": "network quantiles, CQR", "conformal": "rolling conformal"}.get(band)
    zoom.fill_between(zoom_rows["date"], zoom_rows["lower"], zoom_rows["upper"],
                      color=COLORS["model"], alpha=0.15, lw=0,
                      label=f"{pct} interval" + (f" ({kind})" if kind else ""))
    zoom.plot(zoom_rows["date"], zoom_rows["actual"], color=COLORS["actual"], lw=1.0,
              label="actual")
    zoom.plot(zoom_rows["date"], zoom_rows["naive"], color=COLORS["naive"], lw=0.7,
              alpha=0.8, label="naive")
    zoom.plot(zoom_rows["date"], zoom_rows["predicted"], color=COLORS["model"], lw=0.8,
              label="model")
    _future(zoom, future, pct, legend=False)
    zoom.set_title("test segment (never seen in training or scaling)", fontsize=10, loc="left")
    zoom.set_ylabel("price")
    zoom.legend(loc="upper left", fontsize=8, frameon=False, ncol=4)


def _draw_errors(errors, zoom_rows: pd.DataFrame) -> None:
    """Absolute errors on the test segment: faint daily values, bold 20-row means."""
    for name, col in (("naive", "naive"), ("model", "predicted")):
        err = (zoom_rows["actual"] - zoom_rows[col]).abs()
        errors.plot(zoom_rows["date"], err, color=COLORS[name], lw=0.4, alpha=0.3)
        errors.plot(zoom_rows["date"], err.rolling(20, min_periods=1).mean(),
                    color=COLORS[name], lw=1.4, label=f"{name} |error|, 20-row mean")
    errors.set_ylabel("absolute error")
    errors.legend(loc="upper left", fontsize=8, frameon=False)


def _draw_losses(losses, data: dict[str, Any]) -> None:
    """Training curves, the best epoch marked."""
    from matplotlib.ticker import MaxNLocator

    hist = data["history"]
    title = "loss (scaled units)"
    if len(hist):
        losses.plot(hist["epoch"], hist["loss"], color=COLORS["train"], label="training")
        losses.plot(hist["epoch"], hist["val_loss"], color=COLORS["validation"],
                    label="validation")
        if data["best_epoch"]:
            losses.axvline(data["best_epoch"], color="#555555", ls=":", lw=1)
            losses.text(data["best_epoch"], 1.0, f" best epoch {data['best_epoch']}",
                        transform=losses.get_xaxis_transform(), va="top", fontsize=8)
        elif data["best_epoch"] == 0:
            title = "loss (scaled units)\nno significant gain over the start: start kept"
        if (hist[["loss", "val_loss"]].to_numpy() > 0).all():  # a constant series: zeros
            losses.set_yscale("log")
        losses.xaxis.set_major_locator(MaxNLocator(integer=True))
        losses.set_xlabel("epoch")
        losses.set_title(title, fontsize=10, loc="left")
        losses.legend(fontsize=8, frameon=False, loc="best")


def save_figure(fig, out: Path, dpi: int) -> Path:
    """Write ``fig`` as PNG to ``out`` atomically (a temporary file renamed into place)."""
    import matplotlib.pyplot as plt

    out = Path(out)
    try:
        write_atomically(out, lambda tmp: fig.savefig(
            tmp, dpi=dpi, format=FORMATS.get(out.suffix.lower(), "png")), suffix=out.suffix)
    except OSError as exc:
        raise OutputError(f"--out {out}: cannot write the figure ({exc.strerror or exc})"
                          ) from None
    finally:
        plt.close(fig)
    return out


def _future(ax, future: pd.DataFrame, pct: str, legend: bool = True) -> None:
    ax.fill_between(future["date"], future["lower"], future["upper"], color=COLORS["future"],
                    alpha=0.2, lw=0, label=f"future {pct} interval" if legend else None)
    ax.plot(future["date"], future["predicted"], color=COLORS["future"], lw=1.4, ls="--",
            label="future forecast" if legend else None)


def not_kept(bundle: Bundle) -> str:
    """The title's note when the baseline guard kept the start (best epoch 0)."""
    if bundle.config.model.quantiles:
        return (" (median not kept: it is the median step; the quantiles around it are the "
                "network's)")
    return " (network not kept: it forecasts the median step)"


def title_for(bundle: Bundle, source: str, scores: dict[str, float],
              figures: dict | None = None) -> str:
    """The title of one series' figure: the model, the source and its scores."""
    m = bundle.config.model
    text = (f"{Path(source).name}: {m.cell.upper()} x{m.layers} ({m.units} units), window "
            f"{m.window}, horizon {m.horizon}, {bundle.config.training.target_transform}")
    if bundle.config.facts.best_epoch == 0:
        text += not_kept(bundle)
    if scores:
        ratio = f"{scores['model'] / scores['naive']:.4f}" if scores["naive"] > 0 else "-"
        text += (f"\ntest MAE: model {scores['model']:.2f}, naive {scores['naive']:.2f}, "
                 f"drift {scores['drift']:.2f} (model / naive {ratio})")
    line = interval_line(figures)
    return text + (f"\n{line}" if line else "")


# --- plot --var: one-step returns against the model's and GARCH's lower tails -----------------
#: The lower-tail levels drawn, where trained (else every trained level below the median).
VAR_LEVELS = (0.01, 0.05)
#: At most this many series drawn (a panel: the first ones; --series picks others).
VAR_SERIES = 6


def var_plot_data(forecaster: Forecaster) -> list[dict[str, Any]]:
    """Per series (up to ``VAR_SERIES``): the test rows' one-step log-returns and, at each
    lower-tail level drawn, the model's and GARCH(1,1)-t's quantiles as returns from the
    previous price, their exceedances, rates and Kupiec p-values."""
    levels = [q for q in VAR_LEVELS if q in forecaster.levels] or \
        [q for q in forecaster.levels if q < 0.5]
    if not levels:
        from forecast.errors import UsageError
        raise UsageError(f"plot --var draws lower-tail quantiles; the model in "
                         f"{forecaster.bundle.path} has none below 0.5; retrain it with "
                         "--quantiles 0.01,0.05,0.5,0.95,0.99")
    table = forecaster.backtest(1, quantiles=True)
    _, series, rows = forecaster.backtest_rows(1)
    facts = forecaster.bundle.config.facts
    segment = segments(table["date"], facts.val_start, facts.test_start)
    out = []
    for s in np.unique(series)[:VAR_SERIES]:
        use = (series == s) & (segment == "test")
        if not use.any():
            use = series == s
        prices, r = forecaster.prices.target_of(int(s)), rows[use]
        previous = prices[r - 1]
        bands = {"model": table[[metrics.quantile_name(q) for q in levels]].to_numpy()[use]}
        garch = forecaster.garches[s]
        if garch is not None:
            bands["GARCH(1,1)-t"] = baselines.garch_quantiles(garch, prices, r, 1, levels)
        entry = {"name": forecaster.prices.names[s], "date": table["date"].to_numpy()[use],
                 "returns": np.log(prices[r] / previous), "levels": levels, "bands": {}}
        for method, q in bands.items():
            for j, level in enumerate(levels):
                test = metrics.var_backtest(prices[r], q[:, j], level)
                entry["bands"][(method, level)] = {
                    "returns": np.log(q[:, j] / previous), "rate": test["rate"],
                    "p_pof": test["p_pof"],
                    "hits": metrics.exceedances(prices[r], q[:, j], level)}
        out.append(entry)
    return out


def draw_var(data: list[dict[str, Any]], title: str, out: Path, dpi: int = 100) -> Path:
    """One panel per series: returns (grey), the model's (red) and GARCH-t's (blue) lower
    tails as returns, exceedances marked (the model's: red dots, GARCH's: blue crosses); each
    panel's title gives every band's exceedance rate and Kupiec p-value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(data), 1, figsize=(14, 3.2 * len(data) + 1),
                             layout="constrained", squeeze=False)
    fig.suptitle(title, fontsize=13)
    styles = {"model": (COLORS["model"], "o"), "GARCH(1,1)-t": (COLORS["naive"], "x")}
    for ax, entry in zip(axes[:, 0], data):
        ax.plot(entry["date"], entry["returns"], color=COLORS["test"], lw=0.6, label="return")
        parts = []
        for (method, level), band in entry["bands"].items():
            color, marker = styles[method]
            dashed = "-" if level == entry["levels"][0] else "--"
            ax.plot(entry["date"], band["returns"], color=color, lw=0.8, ls=dashed,
                    label=f"{method} {level:g}")
            hits = band["hits"]
            ax.scatter(entry["date"][hits], entry["returns"][hits], color=color, marker=marker,
                       s=14, zorder=3)
            parts.append(f"{method} {level:g}: {band['rate']:.1%} (Kupiec p {band['p_pof']:.2f})")
        ax.set_title(f"{entry['name']}: " + "; ".join(parts), fontsize=9)
        ax.legend(loc="lower left", fontsize=8, ncol=4)
        ax.grid(alpha=0.25, lw=0.5)
        ax.spines[["top", "right"]].set_visible(False)
    return save_figure(fig, out, dpi)
