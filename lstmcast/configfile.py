"""Run configurations as TOML files: read (with types checked and unknown keys named), write, merge.

The layout is `RunConfig.to_dict()`: sections [data] [window] [model] [train] holding the dataclass field names.
Command-line flags map to fields by name with dashes as underscores (--val-size -> window.val_size), except
--hidden -> model.hidden_size and --layers -> model.num_layers. A key left out takes the option's default.
An optional [run] section holds `train`'s options that are not part of the model's configuration (where the run
goes, how it is shown and launched: RUN_KEYS); run directories' config.toml files never have one.
"""

from __future__ import annotations

import difflib
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from lstmcast.choices import FLAGS, RANGES, flag_of
from lstmcast.config import DataConfig, ModelConfig, RunConfig, TrainConfig, WindowConfig, check_range
from lstmcast.errors import ConfigError
from lstmcast.files import output_target, regular_input

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SECTIONS: dict[str, type] = {"data": DataConfig, "window": WindowConfig, "model": ModelConfig, "train": TrainConfig}
# command-line option -> field, where they differ (hidden -> hidden_size): choices.FLAGS read the other way
RENAMED = {flag.removeprefix("--").replace("-", "_"): name for name, flag in FLAGS.items()}
RUN = "run"
RUN_KEYS: dict[str, type] = {"out": str, "name": str, "project": str, "quiet": bool, "nproc": int}


def field_of(option: str) -> tuple[str, str] | None:
    """(section, field) that the command-line option `option` (a parameter name, e.g. 'val_size') sets."""
    name = RENAMED.get(option, option)
    for section, cls in SECTIONS.items():
        if name in {f.name for f in fields(cls)}:
            return section, name
    return None


def read(path: str | Path) -> RunConfig:
    """Parse and validate a TOML run configuration; every error names the file."""
    return from_mapping(_parse(Path(path)), str(path))


def read_run(path: str | Path) -> dict[str, Any]:
    """The file's [run] section (RUN_KEYS with their values), checked; {} without one."""
    raw = _parse(Path(path)).get(RUN, {})
    try:
        if not isinstance(raw, dict):
            raise ConfigError(f"[{RUN}] must be a table of keys")
        for key, value in raw.items():
            kind = RUN_KEYS.get(key)
            if kind is None:
                close = difflib.get_close_matches(key, list(RUN_KEYS), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(RUN_KEYS)}"
                raise ConfigError(f"unknown key {key!r} in [{RUN}]; {hint}")
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigError(f"[{RUN}] {key} = {value!r}: expected {kind.__name__}")
            if key in RANGES and isinstance(value, int):
                check_range(f"[{RUN}] {key}", value, key)
            if isinstance(value, str) and ("\0" in value or not value.strip()):  # a path: the OS refuses NUL
                raise ConfigError(f"[{RUN}] {key} = {value!r}: a path cannot be empty or hold a NUL character")
    except ConfigError as exc:
        raise ConfigError(f"--config {path}: {exc}") from None
    return dict(raw)


def _parse(path: Path) -> dict[str, Any]:
    regular_input(path, ConfigError, "give a TOML file to --config")  # a FIFO would hang, a device never end
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ConfigError(f"--config {path}: not valid TOML (arrays or tables nested too deeply)") from None
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--config {path}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: not valid TOML ({exc})") from None


def from_mapping(raw: dict[str, Any], where: str = "<config>") -> RunConfig:
    """A RunConfig from parsed TOML: values of the wrong type are refused (TOML has no null: leave a key out).
    A [run] section is left to read_run."""
    try:
        for name in raw:
            if name not in SECTIONS and name != RUN:
                valid = [*SECTIONS, RUN]
                close = difflib.get_close_matches(name, valid, n=1)
                hint = f"; did you mean [{close[0]}]?" if close else f"; valid sections: {', '.join(valid)}"
                raise ConfigError(f"unknown section [{name}]{hint}")
        checked = {name: _check_types(name, section) for name, section in raw.items() if name != RUN}
        return RunConfig.from_dict(checked)
    except ConfigError as exc:
        raise ConfigError(f"--config {where}: {exc}") from None


def _check_types(name: str, section: Any) -> Any:
    cls = SECTIONS.get(name)
    if cls is None or not isinstance(section, dict):
        return section  # RunConfig.from_dict names the unknown section or the bad shape
    kinds = {f.name: str(f.type) for f in fields(cls)}
    out: dict[str, Any] = {}
    for key, value in section.items():
        kind = kinds.get(key)
        if kind is None:
            out[key] = value  # unknown: from_dict suggests the closest key
            continue
        if "tuple" in kind:
            ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        elif kind.startswith("bool"):
            ok = isinstance(value, bool)
        elif kind.startswith("int"):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind.startswith("float"):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        else:
            ok = isinstance(value, str)
        if not ok:
            want = kind.replace(" | None", "").replace("tuple[str, ...]", "list of strings")
            raise ConfigError(f"[{name}] {key} = {value!r}: expected {want}")
        if key in RANGES:  # the flag's bounds (config.RANGES), e.g. --dropout at most 0.99
            check_range(flag_of(key), value, key)
        out[key] = value
    return out


def dumps(cfg: RunConfig) -> str:
    """TOML text of a configuration; unset (None) values are left out, so they take their defaults again."""
    lines = ["# lstmcast run configuration: `lstmcast train --config FILE DATA` runs it again", ""]
    for section, values in cfg.to_dict().items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if value is not None:
                lines.append(f"{key} = {_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # Python's float repr is valid TOML: 0.003, 1e-05, inf, nan
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are a subset of TOML basic strings'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def write(cfg: RunConfig, path: str | Path) -> Path:
    path = output_target(path, "")
    path.write_text(dumps(cfg), encoding="utf-8")
    return path


def merge(base: RunConfig, options: dict[str, Any]) -> RunConfig:
    """`base` with the command-line options the user gave ({parameter name: plain value}) set over it.

    Options that are not run configuration (e.g. quiet) are ignored; the result is validated as a whole.
    """
    merged = base.to_dict()
    for option, value in options.items():
        where = field_of(option)
        if where is not None:
            section, name = where
            merged[section][name] = value
    return RunConfig.from_dict(merged)
