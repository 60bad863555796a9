"""Reading what the preflight checks: the template, a parameter set, ``KEY=VALUE`` overrides."""

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from tapstack import paths
from tapstack.preflight.errors import ParameterError, TemplateError

LOG = logging.getLogger(__name__)


def load_template(path: str | os.PathLike) -> dict:
    """Read a JSON CloudFormation template.

    Raises:
        TemplateError: the file is missing, is not JSON, or has no ``Resources`` object.
    """
    return read_template(path)[1]


def read_template(path: str | os.PathLike) -> tuple[str, dict]:
    """Read a JSON template and return its text and the parsed template; see ``load_template``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TemplateError(f"template not found: {path} (choose another with --template)") from exc
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc
    return text, parse_template(text, source=str(path))


def parse_template(text: str, *, source: str = "<template>") -> dict:
    """Parse template text; see ``load_template`` for the errors raised."""
    try:
        template = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(
            f"template {source} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno} (only JSON templates are supported)"
        ) from exc

    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError(
            f"template {source} has no Resources object; is it a CloudFormation template?"
        )
    return template


def available_parameter_sets() -> list[str]:
    """Names of the parameter sets under template/parameters/ (``aws``, ``localstack``)."""
    return sorted(path.stem for path in paths.PARAMETERS_DIR.glob("*.json"))


def load_parameters(name_or_path: str | os.PathLike) -> dict[str, str]:
    """Read a parameter set: a name under template/parameters/ or a path to a JSON file.

    The file holds one JSON object, ``{"ParameterName": "value", ...}``; numbers are
    accepted and turned into strings, as CloudFormation does.

    Raises:
        ParameterError: the set is unknown, the file is not JSON, or a value is not scalar.
    """
    text = str(name_or_path)
    looks_like_path = text.endswith(".json") or os.sep in text or "/" in text
    path = Path(text) if looks_like_path else paths.PARAMETERS_DIR / f"{text}.json"

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        known = ", ".join(available_parameter_sets()) or "none"
        raise ParameterError(
            f"unknown parameter set {text!r}: {path} does not exist "
            f"(known sets: {known}; or pass a path to a JSON file)"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ParameterError(
            f"parameter file {path} is not valid JSON: {exc.msg} at line {exc.lineno}"
        ) from exc

    if not isinstance(raw, dict):
        raise ParameterError(
            f"parameter file {path} must hold one JSON object "
            f'{{"ParameterName": "value", ...}}, not {type(raw).__name__}'
        )
    return {key: _parameter_value(key, value, path) for key, value in raw.items()}


def _parameter_value(key: str, value, source) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ParameterError(
            f"parameter {key} in {source} is {json.dumps(value)}; "
            "a parameter value must be a string or a number"
        )
    return str(value)


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """Turn ``["Key=Value", ...]`` into a dict; the value may be empty, the key may not.

    Raises:
        ParameterError: an item has no ``=`` or an empty key.
    """
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParameterError(
                f"--parameter {pair!r} is not KEY=VALUE (for example "
                "--parameter ProcessWebhookReservedConcurrency=10)"
            )
        overrides[key.strip()] = value
    return overrides


def effective_parameters(template: Mapping, given: Mapping[str, str]) -> dict[str, str]:
    """The value each declared parameter would take: the given one, else its default.

    Parameters without a default that were not given are left out; undeclared ones too.
    """
    values = {}
    for name, spec in (template.get("Parameters") or {}).items():
        if name in given:
            values[name] = str(given[name])
        elif isinstance(spec, dict) and "Default" in spec:
            values[name] = _default_text(spec["Default"])
    return values


def _default_text(default) -> str:
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, list):
        return ",".join(str(item) for item in default)
    return str(default)
