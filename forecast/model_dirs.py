"""Which directory a command writes, and whether it may: a model directory forecast wrote
(known by its manifest, or its files from before manifests), the default one, the newest
one, and the checks that refuse, before any work, a place that must not be written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

from forecast.config import MODELS_DIR, ForecastConfig
from forecast.data.layouts import source_stem
from forecast.errors import ModelDirError, OutputError

FILES = ("model.keras", "config.json", "scaler.json", "metrics.json", "history.csv",
         "data.csv", "calibration.json", "intervals.json", "garch.json")
#: Files a format-2 directory (from before quantile models) lacks.
SINCE_FORMAT_3 = ("intervals.json", "garch.json")
#: Plain weight arrays for the NumPy engine (optional: without it, predict uses Keras).
WEIGHTS = "weights.npz"
#: The rows of data.csv a future forecast reads (``windows.recent_of``): each series' last
#: ones, so that `predict` reads a small file (optional: without it, data.csv).
RECENT = "recent.csv"
#: Everything forecast writes into a model directory: its files and `plot`'s default figure.
#: `train` replaces an existing directory only if it holds nothing else.
#: What tune adds beside the model: every trial of its search.
TRIALS = "trials.csv"
#: Written last: the tool's name and every other file's size and sha256.
MANIFEST = "manifest.json"
TOOL = "forecast"
#: What forecast writes into a model directory after it (`plot`'s default figure): not in
#: the manifest, and no reason to refuse replacing the directory.
ADDED_LATER = frozenset({"plot.png"})
OWN_FILES = frozenset({*FILES, WEIGHTS, RECENT, TRIALS, MANIFEST, *ADDED_LATER})
#: The top-level keys of every config.json forecast has written (ForecastConfig's fields):
#: with FILES and nothing but OWN_FILES, how a directory of an earlier version (no
#: manifest) is known.
CONFIG_KEYS = frozenset(f.name for f in dataclasses.fields(ForecastConfig))


def model_dir_for(model_dir: str | Path | None, sources: str | list[str], cell: str) -> Path:
    """Where ``train`` writes: ``--model-dir``, else ``default_model_dir``; checked up front
    (``check_model_dir_target``) so that a refusal comes before any training."""
    if model_dir is not None:
        return check_model_dir_target(model_dir)
    sources = [sources] if isinstance(sources, str) else list(sources)
    return check_model_dir_target(default_model_dir(sources, cell), source=", ".join(sources))


def check_model_dir_target(path: str | Path, source: str | None = None) -> Path:
    """Refuse, as an OutputError (exit 2), a model directory path that ``train`` must not
    replace or cannot create. Returns ``path``.

    Fine: a path that does not exist yet under a writable directory; an empty directory;
    a model directory forecast wrote, as it wrote it (``check_replaceable``). Refused:
    anything else that exists (a file, a link, the current directory or one above it, a
    directory holding other files). With ``source`` (the default directory), a model
    trained from another file is refused too.
    """
    path = Path(path)
    check_name_length(path, "--model-dir", MODEL_DIR_TEMP_EXTRA)
    full = Path(os.path.abspath(path))
    if full == Path.cwd() or full in Path.cwd().parents:
        raise OutputError(f"--model-dir {path} is the current directory or one above it; name "
                          "a new directory for the model, such as models/NAME")
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise OutputError(f"--model-dir {path} exists and is not a directory; forecast never "
                          "replaces it: pass a new directory name")
    if path.is_dir():
        check_replaceable(path)
        if source is not None:
            check_same_source(path, source)
    check_can_write(path, "--model-dir")
    return path


def check_replaceable(path: Path) -> None:
    """A directory ``train`` may replace: empty, or one it can tell it wrote (``_not_ours``)
    holding nothing else."""
    if os.path.ismount(path):
        raise OutputError(f"--model-dir {path} is a mount point; name a directory inside it")
    names = sorted(p.name for p in path.iterdir())
    if not names:
        return
    manifest, why = _not_ours(path)
    if manifest is None and why:
        raise OutputError(f"--model-dir {path} exists and is not a forecast model directory "
                          f"(it holds {some(names)}); forecast never deletes it: pass a new "
                          "or empty directory")
    if why:
        raise OutputError(f"--model-dir {path} is not the model directory forecast wrote ({why}); "
                          "forecast replaces a model directory only as it wrote it: move your "
                          f"files out of {path}, or pass another --model-dir")
    own = OWN_FILES if manifest is None else {*manifest, MANIFEST, *ADDED_LATER}
    extra = [name for name in names if name not in own or not _plain_file(path / name)]
    if extra:
        raise OutputError(f"--model-dir {path} holds {some(extra)} besides the model; forecast "
                          "replaces a model directory only when nothing else is in it: move "
                          "those out or pass another --model-dir")


def _not_ours(path: Path) -> tuple[dict | None, str]:
    """(the manifest's files or None, why ``path`` is not a directory forecast wrote, or ""
    if it is).

    One with manifest.json is forecast's if the manifest names forecast and every file it
    lists is there, a plain file of the listed size (sizes suffice to know it; no need to
    hash a 12.6 M-row data.csv again at every train). One without, from an earlier version, is
    forecast's if its config.json has exactly the keys forecast writes and every file
    read_bundle needs is there; a folder of a user's own files that merely holds a
    config.json (of another program, say) is neither.
    """
    try:
        text = (path / MANIFEST).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, "" if _earlier_model(path) else "not forecast's"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"its {MANIFEST} cannot be read ({exc})"
    try:
        files = parse_manifest(json.loads(text))
    except ValueError as exc:
        return None, f"its {MANIFEST} is not forecast's ({exc})"
    for name, entry in files.items():
        if not _plain_file(path / name):
            return files, f"{name}, listed in its {MANIFEST}, is missing"
        size = (path / name).stat().st_size
        if size != entry["size"]:
            return files, (f"{name} has {size} bytes where {MANIFEST} lists {entry['size']}: "
                           "it was changed")
    return files, ""


def is_model_dir(path: Path) -> bool:
    """Whether ``path`` is (or claims to be) a model directory forecast wrote: it has a
    manifest, or it is one from before manifests (``_earlier_model``)."""
    return (path / MANIFEST).is_file() or _earlier_model(path)


def _earlier_model(path: Path) -> bool:
    try:
        raw = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(raw, dict) or set(raw) != CONFIG_KEYS \
            or not isinstance(raw.get("format_version"), int):
        return False
    return all(_plain_file(path / name) for name in FILES
               if raw["format_version"] >= 3 or name not in SINCE_FORMAT_3)


def parse_manifest(raw: Any) -> dict[str, dict[str, Any]]:
    """manifest.json's files (name -> {"size", "sha256"}); ValueError if it is not one."""
    files = raw.get("files") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or raw.get("tool") != TOOL or not isinstance(files, dict):
        raise ValueError(f"not a manifest of {TOOL}")
    for name, entry in files.items():
        if (name in (MANIFEST, "", ".", "..") or "/" in name or not isinstance(entry, dict)
                or not isinstance(entry.get("size"), int) or isinstance(entry["size"], bool)
                or not isinstance(entry.get("sha256"), str)):
            raise ValueError(f"a bad entry for {name!r}")
    return files


def _plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def some(names: list[str], most: int = 3) -> str:
    """The first ``most`` of ``names``, comma-separated, and how many more."""
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def check_same_source(path: Path, source: str) -> None:
    """The default directory holds a model of this same file (or stdin), or is refused."""
    try:
        facts = json.loads((path / "config.json").read_text(encoding="utf-8")).get("facts", {})
    except (OSError, ValueError, AttributeError):
        return
    if not isinstance(facts, dict) or not facts.get("source"):
        return
    old = facts.get("source_path", source_path(facts["source"]))
    if old != source_path(source):
        raise OutputError(f"{path} holds a model trained on {facts['source']}, not {source}; "
                          f"pass --model-dir to keep both (or remove {path} to replace it)")


def source_path(source: str) -> str | None:
    """The absolute path of a training file (several: joined by ", "); None for stdin."""
    if source in ("-", "<stdin>"):
        return None
    return ", ".join(os.path.abspath(s) for s in source.split(", "))


def check_can_write(path: str | Path, flag: str) -> None:
    """Refuse (OutputError, exit 2) a path whose nearest existing parent is not a directory
    this process can create files in. Checked by creating and removing a temporary file."""
    parent = Path(path).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{flag} {path}: {parent} is a file, not a directory; choose "
                          "another path")
    try:
        fd, probe = tempfile.mkstemp(prefix=".forecast-probe-", dir=parent)
    except OSError as exc:
        raise OutputError(f"{flag} {path}: cannot write in {parent} ({exc.strerror}); choose a "
                          "writable place") from None
    os.close(fd)
    os.unlink(probe)


#: What ``write_bundle`` and ``replace_dir`` add to a model directory's name for the
#: temporary ones beside it: ``.NAME.tmp-xxxxxxxx`` and ``.NAME.old-xxxxxxxx``.
MODEL_DIR_TEMP_EXTRA = len("..tmp-") + 8


def check_name_length(path: str | Path, flag: str, extra: int = 0) -> None:
    """Refuse (OutputError, exit 2) a path the file system cannot hold: a name longer than
    its NAME_MAX bytes, the last one with the ``extra`` characters a writer adds to it for
    a temporary name beside it, or the whole path (plus ``extra``) longer than PATH_MAX."""
    full = os.path.abspath(path)
    base = os.path.dirname(full)
    while not os.path.isdir(base):   # os.path, not Path: a too-long name is just "no"
        base = os.path.dirname(base)
    try:
        name_max, path_max = os.pathconf(base, "PC_NAME_MAX"), os.pathconf(base, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    names = Path(full).parts[1:]
    for i, name in enumerate(names):
        last = i == len(names) - 1
        size = len(os.fsencode(name))
        if size > name_max - (extra if last else 0):
            what = "its name" if last else f"the folder name {_shorten(name)}"
            temp = f" ({size + extra} with the {extra} characters forecast adds for its " \
                "temporary file)" if last and extra else ""
            raise OutputError(f"{flag} {_shorten(str(path))}: {what} is {size} bytes{temp}; "
                              f"this file system takes names of at most {name_max}: pass a "
                              f"shorter {flag}")
    size = len(os.fsencode(full))
    if size + extra >= path_max:
        raise OutputError(f"{flag} {_shorten(str(path))}: the whole path is {size} bytes "
                          f"({size + extra} with forecast's temporary name); the system takes "
                          f"paths of at most {path_max - 1}: pass a shorter {flag}")


def _shorten(text: str, most: int = 60) -> str:
    """``text``, or its start and end around "..." if longer than ``most`` characters."""
    return text if len(text) <= most else f"{text[:most - 20]}...{text[-17:]}"


def check_out_target(out: Path, flag: str, inputs: Sequence[str] = (),
                     model: Path | None = None, own: str | None = None) -> None:
    """Refuse (OutputError, exit 2), before any work, an output file that cannot be made
    where it is named or must not be: one of the command's inputs, or inside a model
    directory. (The callers check ``check_name_length`` first.)

    Args:
        out: the file to write (the callers refuse a link or a directory there).
        inputs: the command's PRICES (``-`` aside); the same file by another name (a hard
            or symbolic link) counts.
        model: the model directory the command reads. Any other directory forecast wrote
            as a model directory counts too: a file of the user's in it breaks it, and
            train would no longer replace it.
        own: the one file the command writes in ``model`` itself (plot's plot.png).
    """
    check_can_write(out, flag)
    if not out.parent.is_dir():
        raise OutputError(f"{flag} {out}: there is no directory {out.parent}; create it "
                          "first, or choose another place")
    for source in inputs:
        with contextlib.suppress(OSError):
            if source != "-" and out.exists() and os.path.samefile(out, source):
                raise OutputError(f"{flag} {out} is the command's input {source}; forecast "
                                  "never writes over its input: choose another file")
    folder = Path(os.path.realpath(out.parent))
    mine = None if model is None else Path(os.path.realpath(model))
    for place in (folder, *folder.parents):
        if place == mine or is_model_dir(place):
            if place == mine == folder and out.name == own:
                return
            shown = out.parent if place == folder else model if place == mine else place
            only = f" (and the default {flag}, {model / own})" if own and place == mine \
                else ""
            raise OutputError(f"{flag} {out} is inside the model directory {shown}, which "
                              f"holds only that model's own files{only}: choose a place "
                              "outside it")


def default_model_dir(sources: str | list[str], cell: str) -> Path:
    """``models/<csv name>-<cell>``, ``models/stdin-<cell>`` for stdin, and
    ``models/<first csv name>-and-<n>-more-<cell>`` for several files."""
    sources = [sources] if isinstance(sources, str) else list(sources)
    stem = source_stem(sources[0])
    more = f"-and-{len(sources) - 1}-more" if len(sources) > 1 else ""
    return Path(MODELS_DIR) / f"{stem}{more}-{cell}"


def latest_model_dir(root: str | Path = MODELS_DIR) -> Path:
    """The most recently written model directory under ``root``."""
    root = Path(root)
    found = [p.parent for p in root.glob("*/config.json") if not p.parent.name.startswith(".")]
    if not found:
        raise ModelDirError(f"no trained model under {root}/; run `forecast train PRICES` "
                            "first or pass --model DIR")
    return max(found, key=lambda p: (p / "config.json").stat().st_mtime)


def check_replaceable_again(target: Path) -> None:
    """Refuse (OutputError) a ``--model-dir`` that became a file or link while training."""
    if target.is_symlink() or not target.is_dir():
        raise OutputError(f"--model-dir {target} appeared as a file during training; it was "
                          "left as it is and the new model was not written")
    check_replaceable(target)


#: What `predict --out` writes, by the file's suffix.
OUT_FORMATS = (".csv", ".parquet")


def check_out_file(out: Optional[Path], inputs: Optional[list[str]] = None,
                   model: Optional[Path] = None) -> Optional[Path]:
    """Refuse up front (exit 2) an --out that predict cannot or must not write: one of its
    ``inputs`` (PRICES), a file in the ``model`` directory or any other, a missing folder."""
    if out is None:
        return None
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
