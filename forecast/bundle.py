"""The model directory: written atomically, read back with every file checked.

Layout (CLI.md): model.keras, config.json, scaler.json, metrics.json, history.csv,
data.csv, plus recent.csv (each series' last rows of data.csv, for future forecasts),
calibration.json (the conformal interval calibration), intervals.json (a
quantile model's CQR calibrations and interval-guard verdicts), garch.json (each series'
GARCH(1,1) baseline) and trials.csv for a tuned model, and manifest.json, written last:
the tool's name and every file's size and sha256. Only model.keras is a Keras file, and it
is loaded in safe mode; everything else is JSON or CSV numbers. Format-2 directories (no
intervals.json or garch.json: point models) and directories of earlier versions (no
manifest.json) still read.

The manifest is what lets ``train`` tell its own directory from a user's folder that
merely looks like one (``model_dirs.check_replaceable``), and what every file read is checked
against. A reader sees one model: ``read_bundle`` opens every file at once through one
handle on the directory, so a ``train`` that replaces the directory meanwhile (by rename,
``replace_dir``) cannot mix two models' files into one forecast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import csv
import hashlib
import io
import json
import os
import platform
import shutil
import stat
import tempfile
import uuid
import weakref
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from forecast import __version__
from forecast.baselines import Garch
from forecast.config import ForecastConfig, TrainingFacts, json_safe
from forecast.data.panel import Panel, read_panel
from forecast.engine import NumpyModel, export_model
from forecast.errors import ForecastError, ModelDirError, OutputError
from forecast.files import fsync_dir, locked, replace_dir, write_synced
from forecast.model_dirs import (FILES, MANIFEST, OWN_FILES, RECENT, SINCE_FORMAT_3, TOOL, WEIGHTS,
                                 check_replaceable_again, check_same_source, parse_manifest,
                                 some, source_path)
from forecast.intervals import Calibration, QuantileIntervals
from forecast.transforms import SeriesScaler
from forecast.windows import recent_of

#: The files read_bundle opens (those present), at once, through one directory handle.
READ_FILES = (*FILES, WEIGHTS, RECENT, MANIFEST)
#: Those of them read on demand: the Bundle keeps them open (closed with it).
LOADED_LATER = ("model.keras", WEIGHTS, "data.csv", RECENT)
#: How often read_bundle opens a directory again that was replaced while it opened it.
READ_TRIES = 5


@dataclass
class Bundle:
    """A model directory read back (all but the Keras model, which loads on demand)."""

    path: Path
    config: ForecastConfig
    scaler: SeriesScaler
    metrics: dict[str, Any]
    calibration: Calibration
    history: pd.DataFrame
    quantile: QuantileIntervals = dataclasses.field(default_factory=QuantileIntervals.point)
    #: series name -> its GARCH(1,1) fit on the training rows, or None (too few rows).
    garch: dict[str, Garch | None] = dataclasses.field(default_factory=dict)
    #: file name -> that file (LOADED_LATER), opened when the directory was read
    #: (``read_bundle``): what loads later is of the same directory.
    pins: dict[str, BinaryIO] = dataclasses.field(default_factory=dict, repr=False)
    #: manifest.json's file name -> {"size", "sha256"}; None for an earlier version's
    #: directory, which has none.
    manifest: dict[str, dict[str, Any]] | None = dataclasses.field(default=None, repr=False)

    @property
    def multi(self) -> bool:
        """Whether the model was trained on a panel (its outputs carry a series column)."""
        return self.config.data.layout != "single"

    def data(self, warn=None, recent: bool = False) -> Panel:
        """The training data as stored in ``data.csv`` (a long file for a panel); with
        ``recent``, only the rows a future forecast reads (``recent.csv`` where the
        directory has one, else data.csv, whose last rows are the same)."""
        d, columns = self.config.data, self.config.columns
        name = RECENT if recent and self._has(RECENT) else "data.csv"
        options = dict(target=columns[0], features=columns[1:len(columns) - len(d.extra)],
                       extra=d.extra, date_column=d.date_column,
                       series_column="series" if self.multi else None, missing="error",
                       warn=warn)
        panel = self._by_path(name, lambda file: read_panel([file], **options),
                              lambda pin: _read_pinned_data(pin, self.path / name, options))
        self.check_digest(name, panel.sha256)
        if not self.multi:  # one series: it keeps the name it was trained under
            return dataclasses.replace(panel, names=list(self.scaler.names[:1]))
        # A series with too few training rows has no scaler (predict fits one on its rows
        # before the test start), so the data may hold more series than scaler.json; a
        # series scaler.json names must be in the data.
        unknown = sorted(set(self.scaler.names) - set(panel.names))
        if unknown:
            raise ModelDirError(f"{self.path / 'scaler.json'} names series {some(unknown)} "
                                f"that {self.path / name} does not hold; retrain the model")
        return dataclasses.replace(panel, layout=d.layout)

    @property
    def has_numpy_engine(self) -> bool:
        """Whether the directory holds the layers and weights the NumPy engine runs."""
        return bool(self.config.network) and self._has(WEIGHTS)

    def load_numpy(self) -> NumpyModel:
        """The NumPy engine's model, from weights.npz (no pickles: allow_pickle=False)."""
        file = self.path / WEIGHTS
        raw = self._bytes(WEIGHTS)
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
                model = NumpyModel(self.config.network, dict(arrays), str(file))
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelDirError(f"{file} cannot be read ({exc}); retrain the model") from None
        # A dry run proves the layer list and the arrays fit together and give the
        # model's output shape, so an edited config.json fails here, clearly.
        m = self.config.model
        try:
            out = model(np.zeros((1, m.window, len(self.config.inputs))))
            expected = (1, m.horizon, len(m.quantiles)) if m.quantiles else (1, m.horizon)
            if out.shape != expected:
                raise ValueError(f"output shape {out.shape}, expected {expected}")
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ModelDirError(f"{self.path / 'config.json'} 'network' does not match "
                                f"{file} ({exc}); retrain the model") from None
        self.check_digest(WEIGHTS, hashlib.sha256(raw).hexdigest())
        return model

    def load_keras(self):
        """The Keras model, loaded in safe mode (no Lambda layers, no arbitrary code)."""
        model = self._by_path("model.keras", load_keras_file, lambda pin: _load_pinned_keras(
            pin, self.path / "model.keras"))
        if not all(np.isfinite(w).all() for w in model.get_weights()):
            raise ModelDirError(f"{self.path / 'model.keras'} holds weights that are not "
                                "finite numbers (NaN or infinity); retrain the model")
        self.check_digest("model.keras", hashlib.sha256(self._bytes("model.keras")).hexdigest())
        return model

    def check_digest(self, name: str, digest: str) -> None:
        """Refuse a file whose sha256 is not the one manifest.json lists for it (a directory
        without a manifest, from an earlier version, has nothing to check against)."""
        if self.manifest is None or self.manifest.get(name, {}).get("sha256") == digest:
            return
        listed = "does not list it" if name not in self.manifest else "lists another sha256"
        raise ModelDirError(f"{self.path / name} is not the file forecast wrote there "
                            f"(manifest.json {listed}): it was changed after training; "
                            "retrain the model")

    def _has(self, name: str) -> bool:
        return name in self.pins if self.pins else (self.path / name).is_file()

    def _bytes(self, name: str) -> bytes:
        """All of file ``name``: the one opened when the directory was read."""
        pin = self.pins.get(name)
        try:
            if pin is None:
                return (self.path / name).read_bytes()
            pin.seek(0)
            return pin.read()
        except OSError as exc:
            raise ModelDirError(f"{self.path / name} cannot be read ({exc.strerror or exc}); "
                                "retrain the model") from None

    def _by_path(self, name: str, load, load_pinned):
        """``load(path)`` of file ``name``, for readers that take a path, if the file there
        is the one opened when the directory was read, before and after; else (a train
        replaced the directory since) ``load_pinned(that file)``."""
        pin = self.pins.get(name)
        if pin is None:
            return load(self.path / name)
        if _same_file(os.fstat(pin.fileno()), self.path / name):
            result = load(self.path / name)
            if _same_file(os.fstat(pin.fileno()), self.path / name):
                return result
        pin.seek(0)
        return load_pinned(pin)


def _read_pinned_data(pin: BinaryIO, file: Path, options: dict) -> Panel:
    """``read_panel`` of an open file (as if it were stdin), named ``file``."""
    try:
        panel = read_panel(["-"], stdin=pin, **options)
    except ForecastError as exc:
        raise type(exc)(exc.message.replace("<stdin>", str(file))) from None
    return dataclasses.replace(panel, source=str(file), sources=[str(file)] * len(panel.sources))


def _load_pinned_keras(pin: BinaryIO, file: Path):
    """``load_keras_file`` of an open file named ``file``, through a private copy (Keras
    loads paths only)."""
    with tempfile.TemporaryDirectory(prefix="forecast-") as tmp:
        copy = Path(tmp) / "model.keras"
        copy.write_bytes(pin.read())
        try:
            return load_keras_file(copy)
        except ModelDirError as exc:
            raise ModelDirError(exc.message.replace(str(copy), str(file))) from None


def load_keras_file(file: Path):
    """A .keras file, loaded in safe mode (no Lambda layers, no arbitrary code)."""
    import keras

    import forecast.models  # noqa: F401  (registers the quantile head's layer for loading)

    if not zipfile.is_zipfile(file):
        raise ModelDirError(f"{file} is not a Keras model file (not a .keras zip "
                            "archive); retrain the model")
    try:
        return keras.saving.load_model(file, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many kinds for a damaged or unsafe file
        reason = " ".join(str(exc).split())[:200]
        raise ModelDirError(f"{file} cannot be loaded as a safe Keras model ({reason}); "
                            "retrain the model") from None


def _same_file(opened: os.stat_result, path: Path) -> bool:
    """Whether ``path`` is the file (or directory) whose stat is ``opened``. One held open
    cannot be deleted and its inode number reused, so equal numbers mean the same file."""
    try:
        now = os.stat(path)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)


def package_versions() -> dict[str, str]:
    """package -> version of forecast, Python, TensorFlow, Keras, NumPy and pandas."""
    versions = {"forecast": __version__, "python": platform.python_version()}
    for name in ("tensorflow", "tensorflow-cpu", "keras", "numpy", "pandas"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def written_config(config: ForecastConfig, prices: Panel, network: list[dict[str, Any]]
                   ) -> ForecastConfig:
    """``config`` as config.json holds it: its facts with the data read (sha256, files,
    source), the package versions and the time, and ``network`` (the layers the NumPy
    engine runs; empty: Keras only), every figure JSON-safe."""
    facts = dataclasses.replace(
        config.facts, sha256=prices.sha256,
        files=[{"path": src, "sha256": digest}
               for src, digest in zip(dict.fromkeys(prices.sources), prices.digests)],
        source=prices.source, source_path=source_path(prices.source),
        versions=package_versions(),
        trained_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return dataclasses.replace(config, network=network,
                               facts=TrainingFacts.from_dict(json_safe(facts.to_dict())))


def write_bundle(target: str | Path, trained, prices: Panel,
                 extra: dict[str, str] | None = None, default_dir: bool = False) -> Path:
    """Write a complete model directory at ``target``, atomically.

    Everything is written into a hidden temporary directory beside ``target``, the
    manifest last, and renamed into place under a lock, so readers and concurrent writers
    never see half a model, and a failure (or Ctrl-C) leaves any older model of the same
    name as it was. ``extra`` adds text files (name -> content), e.g. tune's
    ``trials.csv``. ``default_dir``: ``target`` is the default directory (no
    --model-dir), which must not hold a model of another file (``check_same_source``,
    checked again under the lock: another train may have written it meanwhile).
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
    except OSError as exc:
        raise OutputError(f"cannot create the model directory {target} "
                          f"({exc.strerror or exc}); choose a writable --model-dir") from None
    try:
        trained.model.save(tmp / "model.keras")
        try:
            network, arrays = export_model(trained.model)
            np.savez(tmp / WEIGHTS, **arrays)
        except ValueError:  # an architecture the NumPy engine does not know: Keras only
            network = []
        config = written_config(trained.config, prices, network)
        write_synced(tmp / "config.json", config.to_json())
        write_synced(tmp / "scaler.json", json.dumps(trained.scaler.to_dict(), indent=2))
        write_synced(tmp / "metrics.json", dump_json(trained.metrics, indent=2))
        write_synced(tmp / "calibration.json", dump_json(trained.calibration.to_dict()))
        write_synced(tmp / "intervals.json", dump_json(trained.quantile.to_dict(), indent=2))
        write_synced(tmp / "garch.json", dump_json(
            {"method": "GARCH(1,1), zero mean, fit on each series' training rows only, "
                       "filtered with fixed parameters; null: too few training returns",
             "series": trained.garch}, indent=2))
        write_synced(tmp / "history.csv", history_csv(trained.history))
        write_data_csv(tmp / "data.csv", prices)
        write_data_csv(tmp / RECENT, recent_of(prices, config.model.window,
                                               config.training.target_transform))
        for name, text in (extra or {}).items():
            write_synced(tmp / name, text)
        write_manifest(tmp)
        fsync_dir(tmp)
        with locked(target):
            if target.is_dir() or target.is_symlink() or target.exists():
                check_replaceable_again(target)  # files may have appeared while training
                if default_dir:
                    check_same_source(target, prices.source)
            replace_dir(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write the model directory {target} ({exc.strerror or exc}); "
                          "nothing was written") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def write_manifest(directory: Path) -> None:
    """manifest.json: the tool, its version, and every file of ``directory`` with its
    size and sha256 (hashing a 12.6 M-row data.csv, about 450 MB, takes about 0.3 s)."""
    files = {file.name: {"size": file.stat().st_size, "sha256": _file_sha256(file)}
             for file in sorted(directory.iterdir()) if file.name != MANIFEST}
    write_synced(directory / MANIFEST, json.dumps(
        {"tool": TOOL, "version": __version__, "files": files}, indent=2))


def _file_sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def dump_json(value: Any, indent: int | None = None) -> str:
    """Strict JSON: NaN and infinity become null."""
    return json.dumps(json_safe(value), indent=indent, allow_nan=False)


def write_data_csv(file: Path, panel: Panel) -> None:
    """The columns a model used, as read: one series as before, a panel as a long file
    (``date,series,...``). pyarrow writes it (12.6 M rows in 8 s, where pandas took 55 s
    and 600 MB more), each number in the shortest form that reads back exactly; pandas
    writes what needs quoting (a comma in a name) or a time with fractions of a second."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.compute as pc

    header = [panel.date_column, *(["series"] if panel.multi else []), *panel.columns]
    texts = [*header, *(panel.names if panel.multi else [])]
    stamps = panel.dates.asi8
    if not any(set(t) & set(',"\r\n') for t in texts) and not (stamps % 10**9).any():
        daily = not (stamps % (86400 * 10**9)).any()
        columns = [pc.strftime(pa.array(panel.dates.as_unit("s")),
                               format="%Y-%m-%d" if daily else "%Y-%m-%d %H:%M:%S")]
        if panel.multi:
            columns.append(pa.DictionaryArray.from_arrays(
                pa.array(panel.series_of_rows().astype(np.int32)),
                pa.array(panel.names, pa.string())).cast(pa.string()))
        columns += [pa.array(panel.values[:, j]) for j in range(panel.values.shape[1])]
        with open(file, "wb") as out:
            out.write((",".join(header) + "\n").encode())
            pacsv.write_csv(pa.table(columns, names=[f"c{i}" for i in range(len(columns))]),
                            out, write_options=pacsv.WriteOptions(include_header=False,
                                                                  quoting_style="none"))
        return
    frame = panel.frame
    if panel.multi:
        frame.insert(0, "series", np.repeat(panel.names, panel.lengths))
    frame.to_csv(file, date_format=_date_format(panel.dates))


def history_csv(history: dict[str, list[float]]) -> str:
    """history.csv's text: one row per epoch of loss, val_loss and seconds (those kept)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = [k for k in ("loss", "val_loss", "seconds") if k in history]
    writer.writerow(["epoch", *keys])
    for i in range(len(history["loss"])):
        writer.writerow([i + 1, *(f"{history[k][i]:.8g}" for k in keys)])
    return out.getvalue()


def read_bundle(path: str | Path) -> Bundle:
    """Read and check a model directory; any missing or damaged file is a ModelDirError.

    Its files are opened at once (``pin_files``), so that everything read, now and later
    (weights, the Keras model, data.csv), is of one model even while a ``train`` replaces
    the directory; every file read is checked against manifest.json where there is one.
    """
    path = Path(path)
    pins = pin_files(path)
    try:
        return _read_pinned(path, pins)
    except BaseException:
        _close(list(pins.values()))
        raise


def pin_files(path: Path) -> dict[str, BinaryIO]:
    """Open the READ_FILES that ``path`` holds (name -> binary file), all through one
    handle on the directory: all of one directory, whatever renames happen meanwhile. A
    directory replaced while they were opened (removed files may be missing) is opened
    again, up to READ_TRIES times."""
    for _ in range(READ_TRIES):
        fd, pins = _open_model_dir(path), {}
        try:
            for name in READ_FILES:
                pin = _open_in(fd, name, path)
                if pin is not None:
                    pins[name] = pin
            if _same_file(os.fstat(fd), path):
                return pins
        finally:
            os.close(fd)
        _close(list(pins.values()))
    raise ModelDirError(f"model directory {path} was replaced {READ_TRIES} times while it was "
                        "being read (other `forecast train` runs writing it); run the command "
                        "again when they are done")


def _open_model_dir(path: Path) -> int:
    try:
        return _open_dir(path)
    except FileNotFoundError:
        pass
    # replace_dir may be between its two renames: it holds the lock until it is done
    with locked(path, shared=True):
        try:
            return _open_dir(path)
        except FileNotFoundError:
            raise ModelDirError(f"model directory {path} does not exist; train one with "
                                f"`forecast train PRICES --model-dir {path}`") from None


def _open_dir(path: Path) -> int:
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except NotADirectoryError:
        if not path.is_file():   # a path below a file
            raise FileNotFoundError(path) from None
        if path.name in OWN_FILES:
            raise ModelDirError(f"{path} is a file of a model directory, not the directory; "
                                f"pass --model {path.parent}") from None
        kind = "a price file" if path.suffix.lower() in (".csv", ".parquet") else "a file"
        raise ModelDirError(f"{path} is {kind}, not a model directory: prices go first and "
                            f"the model directory after --model, as in `forecast predict "
                            f"{path} --model DIR`") from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ModelDirError(f"model directory {path} cannot be read "
                            f"({exc.strerror or exc})") from None


def _open_in(fd: int, name: str, path: Path) -> BinaryIO | None:
    """File ``name`` of the directory open as ``fd``, or None if it holds no such file."""
    try:
        if not stat.S_ISREG(os.stat(name, dir_fd=fd).st_mode):
            return None
        return open(name, "rb", opener=lambda file, flags: os.open(file, flags, dir_fd=fd))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ModelDirError(f"{path / name} cannot be read ({exc.strerror or exc}); retrain "
                            "the model") from None


def _read_pinned(path: Path, pins: dict[str, BinaryIO]) -> Bundle:
    missing = [name for name in FILES if name not in pins and name not in SINCE_FORMAT_3]
    if missing:
        raise ModelDirError(f"model directory {path} is incomplete: missing "
                            f"{', '.join(missing)}; retrain the model")
    read: dict[str, bytes] = {}

    def text(name: str) -> str:
        pins[name].seek(0)
        try:
            read[name] = pins[name].read()
            return read[name].decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelDirError(f"{path / name} cannot be read ({exc}); retrain the "
                                "model") from None

    def json_of(name: str) -> Any:
        try:
            return json.loads(text(name))
        except ValueError as exc:
            raise ModelDirError(f"{path / name} is not valid JSON ({exc}); retrain the "
                                "model") from None

    manifest = None
    if MANIFEST in pins:
        try:
            manifest = parse_manifest(json_of(MANIFEST))
        except ValueError as exc:
            raise ModelDirError(f"{path / MANIFEST} is damaged ({exc}); retrain the "
                                "model") from None
        read.pop(MANIFEST)
        # A file the manifest lists that is gone (weights.npz, recent.csv) is damage, not
        # an optional file of an earlier version: predict would quietly fall back.
        gone = [name for name in READ_FILES if name in manifest and name not in pins]
        if gone:
            raise ModelDirError(f"model directory {path} is incomplete: missing "
                                f"{', '.join(gone)} (manifest.json lists it); retrain the "
                                "model")
    config = ForecastConfig.from_json(text("config.json"), str(path / "config.json"))
    missing = [name for name in SINCE_FORMAT_3 if name not in pins]
    if missing and config.format_version >= 3:
        raise ModelDirError(f"model directory {path} is incomplete: missing "
                            f"{', '.join(missing)}; retrain the model")
    scaler = SeriesScaler.from_dict(json_of("scaler.json"), str(path / "scaler.json"))
    calibration = Calibration.from_dict(json_of("calibration.json"),
                                        str(path / "calibration.json"))
    metrics = json_of("metrics.json")
    if scaler.data_min_.shape[1] != len(config.inputs) or not config.columns:
        raise ModelDirError(f"{path / 'scaler.json'} has {scaler.data_min_.shape[1]} columns but "
                            f"config.json lists {len(config.inputs)} inputs; retrain the model")
    series = config.facts.series
    if isinstance(series, list) and scaler.names != [""] and \
            [str(name) for name in series] != scaler.names:
        raise ModelDirError(f"{path / 'scaler.json'} names the series {some(scaler.names)} "
                            f"but config.json {some([str(n) for n in series])}; retrain the "
                            "model")
    quantile, garch = QuantileIntervals.point(), {}
    if config.format_version >= 3:
        quantile = QuantileIntervals.from_dict(json_of("intervals.json"),
                                               str(path / "intervals.json"))
        if quantile.levels != [float(q) for q in config.model.quantiles]:
            raise ModelDirError(f"{path / 'intervals.json'} has levels {quantile.levels} but "
                                f"config.json {config.model.quantiles}; retrain the model")
        garch = read_garch(json_of("garch.json"), path / "garch.json")
        unknown = sorted(set(garch) - set(scaler.names))
        if unknown:
            raise ModelDirError(f"{path / 'garch.json'} has series {some(unknown)} that "
                                "scaler.json lacks; retrain the model")
    try:
        history = pd.read_csv(io.StringIO(text("history.csv")))
    except (ValueError, OSError) as exc:
        raise ModelDirError(f"{path / 'history.csv'} is damaged ({exc})") from None
    lazy = {name: pins[name] for name in LOADED_LATER if name in pins}
    bundle = Bundle(path, config, scaler, metrics if isinstance(metrics, dict) else {},
                    calibration, history, quantile, garch, lazy, manifest)
    for name, raw in read.items():
        bundle.check_digest(name, hashlib.sha256(raw).hexdigest())
    for name in set(pins) - set(lazy):
        pins[name].close()
    weakref.finalize(bundle, _close, list(lazy.values()))   # closed with the Bundle
    return bundle


def _close(files: list[BinaryIO]) -> None:
    for file in files:
        file.close()


def read_garch(raw: Any, file: Path) -> dict[str, Garch | None]:
    """garch.json (``raw``, as parsed): series name -> its GARCH(1,1), or None where it has
    none."""
    series = raw.get("series") if isinstance(raw, dict) else None
    if not isinstance(series, dict):
        raise ModelDirError(f"{file} is damaged (no 'series' object); retrain the model")
    return {str(name): None if value is None else Garch.from_dict(value, str(file))
            for name, value in series.items()}


def _date_format(index: pd.DatetimeIndex) -> str | None:
    return "%Y-%m-%d" if (index.normalize() == index).all() else None


