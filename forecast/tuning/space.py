"""What tune searches: the searchable options, their ranges and choices (``--space``), and
a config with one trial's values set."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecast.config import CELLS, OPTION_BOUNDS, SEARCH_SPACE, ForecastConfig
from forecast.errors import UsageError

if TYPE_CHECKING:
    import optuna


#: Searchable options: name -> (config section, value type). Those not in
#: ``config.SEARCH_SPACE`` (the levers of issue 26: weight penalties, gradient clipping,
#: attention; none won on measurement, see BENCHMARKS.md) are searched only when a
#: ``--space`` file names them.
SEARCHABLE = {
    "cell": ("model", str),
    "layers": ("model", int),
    "units": ("model", int),
    "dropout": ("model", float),
    "window": ("model", int),
    "learning_rate": ("training", float),
    "batch_size": ("training", int),
    "l1": ("model", float),
    "l2": ("model", float),
    "attention": ("model", bool),
    "clipnorm": ("training", float),
}
#: How a message names a searched option of type float.
FLOAT_LABELS = {"dropout": "dropout", "learning_rate": "the learning rate", "l1": "l1",
                "l2": "l2", "clipnorm": "clipnorm"}
# --- the search space ------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """One searched option: a list of choices, or a range from ``low`` to ``high``."""

    name: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    def suggest(self, trial: optuna.Trial) -> Any:
        """The value ``trial`` samples for this option."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if SEARCHABLE[self.name][1] is int:
            return trial.suggest_int(self.name, int(self.low), int(self.high),
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step,
                                   log=self.log)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this parameter can take."""
        if self.choices is not None:
            return value in self.choices
        if value is None or not self.low <= value <= self.high:   # None: --clipnorm off
            return False
        return self.step is None or math.isclose(
            round((value - self.low) / self.step) * self.step + self.low, value)

    def to_dict(self) -> Any:
        """The parameter as the space file writes it: a list of choices or a range."""
        if self.choices is not None:
            return list(self.choices)
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out


def parse_space(raw: Any, source: str = "--space") -> dict[str, Param]:
    """The default space with the entries of ``raw`` (a space file's JSON) replacing
    their defaults; any problem is a UsageError naming ``source`` and the entry."""
    if not isinstance(raw, dict):
        raise UsageError(f"{source} must be a JSON object of option names, such as "
                         '{"units": {"low": 8, "high": 64}, "cell": ["lstm", "gru"]}')
    raw = {str(name).replace("-", "_"): value for name, value in raw.items()}
    unknown = [name for name in raw if name not in SEARCHABLE]
    if unknown:
        raise UsageError(f"{source}: unknown option '{unknown[0]}'; the options searched are "
                         f"{', '.join(SEARCHABLE)}")
    return {name: _param(name, raw[name] if name in raw else SEARCH_SPACE[name], source)
            for name in SEARCHABLE if name in raw or name in SEARCH_SPACE}


def read_space(path: str | Path | None, fixed: set[str] = frozenset()) -> dict[str, Param]:
    """The search space: the defaults, changed by the JSON file at ``path``, less the
    options in ``fixed`` (given on the command line, so not searched)."""
    raw: Any = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"--space {path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--space {path}: cannot read it ({exc})") from None
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--space {path} is not valid JSON ({exc})") from None
    space = parse_space(raw, str(path or "--space"))
    named = {str(name).replace("-", "_") for name in raw}
    both = [name for name in fixed if name in named]
    if both:
        flag = "--" + both[0].replace("_", "-")
        raise UsageError(f"{flag} is given on the command line and {path} searches "
                         f"'{both[0]}'; drop one of them")
    space = {name: p for name, p in space.items() if name not in fixed}
    if not space:
        raise UsageError("every searched option is given on the command line, so there is "
                         "nothing to search; leave some out, or use forecast train")
    return space


def _param(name: str, spec: Any, source: str) -> Param:
    kind = SEARCHABLE[name][1]
    where = f"{source}: '{name}'"
    if isinstance(spec, list):
        spec = {"choices": spec}
    if not isinstance(spec, dict):
        raise UsageError(f"{where} must be a list of choices or an object with low and "
                         f"high, got {json.dumps(spec)} (for one value: [{json.dumps(spec)}])")
    if "choices" in spec:
        if set(spec) != {"choices"}:
            raise UsageError(f"{where} has choices and {sorted(set(spec) - {'choices'})[0]}; "
                             "give either choices or low/high")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise UsageError(f"{where} choices must be a non-empty list")
        for value in choices:
            _check_value(name, kind, value, where)
        if len(set(choices)) < len(choices):
            raise UsageError(f"{where} lists a choice twice: {json.dumps(choices)}")
        return Param(name, choices=tuple(float(v) if kind is float else v for v in choices))
    if kind is str or kind is bool:
        among = ", ".join(CELLS) if kind is str else "true, false"
        raise UsageError(f"{where} takes a list of choices (from {among}), not a range")
    extra = set(spec) - {"low", "high", "log", "step"}
    if extra:
        raise UsageError(f"{where}: unknown key '{sorted(extra)[0]}'; a range has low, high "
                         "and optionally log or step")
    if "low" not in spec or "high" not in spec:
        raise UsageError(f"{where} needs both low and high, got {json.dumps(spec)}")
    low, high = spec["low"], spec["high"]
    _check_value(name, kind, low, f"{where} low")
    _check_value(name, kind, high, f"{where} high")
    if low > high:
        raise UsageError(f"{where}: low {low} is above high {high}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise UsageError(f"{where}: log must be true or false, got {json.dumps(log)}")
    if log and low <= 0:
        raise UsageError(f"{where}: a log range needs low above 0, got {low}")
    step = spec.get("step")
    if step is not None:
        if log:
            raise UsageError(f"{where}: give step or log, not both")
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0 \
                or (kind is int and not isinstance(step, int)):
            raise UsageError(f"{where}: step must be a positive "
                             f"{'integer' if kind is int else 'number'}, got {json.dumps(step)}")
        if not math.isclose((high - low) / step, round((high - low) / step), abs_tol=1e-9):
            raise UsageError(f"{where}: high - low ({high} - {low}) is not a multiple of "
                             f"step {step}")
    cast = float if kind is float else int
    return Param(name, low=cast(low), high=cast(high), log=log,
                 step=None if step is None else cast(step))


def _check_value(name: str, kind: type, value: Any, where: str) -> None:
    """Type and bounds (``config.OPTION_BOUNDS``, as ``ForecastConfig.validate`` checks them)
    of one value of an option."""
    if kind is str:
        if value not in CELLS:
            raise UsageError(f"{where}: {json.dumps(value)} is not a cell; the cells are "
                             f"{', '.join(CELLS)}")
        return
    if kind is bool:
        if not isinstance(value, bool):
            raise UsageError(f"{where}: {json.dumps(value)} is not true or false")
        return
    number = not isinstance(value, bool) and isinstance(value, (int, float))
    if kind is int and not (number and isinstance(value, int)):
        raise UsageError(f"{where} must be a whole number, got {json.dumps(value)}")
    if kind is float and not (number and math.isfinite(value)):
        raise UsageError(f"{where} must be a number, got {json.dumps(value)}")
    bound = OPTION_BOUNDS[name]
    if not bound.holds(value):
        what = "" if kind is int else f": {FLOAT_LABELS[name]}"
        raise UsageError(f"{where}{what} must be {bound.phrase}, got {value}")


def with_params(config: ForecastConfig, params: dict[str, Any]) -> ForecastConfig:
    """A copy of ``config`` with the searched options set to ``params``."""
    sections = {}
    for name, value in params.items():
        section = SEARCHABLE[name][0]
        sections.setdefault(section, {})[name] = value
    return dataclasses.replace(config, **{
        section: dataclasses.replace(getattr(config, section), **values)
        for section, values in sections.items()})
