"""config/README.md, written from the config schema's descriptions: one section per top-level key, one
table row per setting (type, default, description), so the reference cannot drift from what is validated.

Run ``make config-docs`` (or ``python -m vocoder_energy.core.config_docs``) after changing
``workflow/schemas/config.schema.yaml``; ``tests/test_docs.py`` fails while the two disagree.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = Path("workflow/schemas/config.schema.yaml")
README = Path("config/README.md")

HEADER = f"""\
# Configuration

<!-- Generated from {SCHEMA} by `make config-docs`; edit the schema's descriptions, not this file. -->

[`config.yaml`](../config.yaml) is the embedded default (a synthetic corpus and short budgets that run on
a CPU in minutes); [`paper.yaml`](paper.yaml) is the paper's setup, and
[`paper_plus.yaml`](paper_plus.yaml), given after it, adds Vocos and BigVGAN-v2 in three sizes each. A
file given with `--configfile` **replaces** `config.yaml` rather than being merged into it (several
files are merged with each other, in order). Every command, `snakemake -n` included,
validates the config against [`{SCHEMA}`](../{SCHEMA}) before any job runs, and an error names the key.
Keys left out take the default below.
"""


def load_schema(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / SCHEMA).read_text())


def _line(description: str | None) -> str:
    """A description on one line."""
    return re.sub(r"\s+", " ", description or "").strip()


def _cell(description: str | None) -> str:
    """A description on one line, safe inside a Markdown table cell."""
    return _line(description).replace("|", "\\|")


def _value(value: Any) -> str:
    """A value as it is written in a YAML config file."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_value(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return json.dumps(value)  # numbers, true/false, null


def _bounds(spec: dict) -> str:
    bounds = [
        f"{sign} {_value(spec[key])}"
        for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
        if key in spec
    ]
    return f" ({', '.join(bounds)})" if bounds else ""


def type_text(spec: dict) -> str:
    """What a setting accepts, e.g. ``integer (≥ 1) or null``, ``one of `fp32`, `bf16`, `fp16```."""
    if "const" in spec:
        return f"`{_value(spec['const'])}`"
    if "oneOf" in spec or "anyOf" in spec:
        return " or ".join(type_text(option) for option in spec.get("oneOf", spec.get("anyOf")))
    if "enum" in spec:
        return "one of " + ", ".join(f"`{_value(item)}`" for item in spec["enum"])
    kinds = spec.get("type", "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    words = []
    for kind in kinds:
        if kind == "array":
            items = spec.get("items", {})
            words.append(f"list of {type_text(items)}" if items else "list")
        elif kind == "object":
            words.append("mapping")
        else:
            words.append(kind)
    return " or ".join(words) + _bounds(spec)


def default_text(spec: dict, required: bool = False) -> str:
    if "default" in spec:
        return f"`{_value(spec['default'])}`"
    return "required" if required else "—"


def _rows(properties: dict, required: list, prefix: str = "") -> list[str]:
    """One table row per setting; a nested mapping's settings follow it as ``parent.key``."""
    rows = []
    for key, spec in properties.items():
        name = prefix + key
        cells = (f"`{name}`", type_text(spec), default_text(spec, key in required), _cell(spec.get("description")))
        rows.append("| " + " | ".join(cells) + " |")
        if "properties" in spec:
            rows += _rows(spec["properties"], spec.get("required", []), prefix=f"{name}.")
    return rows


def _mapping_of_names(spec: dict) -> str:
    """``families``/``models``/``inference``: keys from an enumeration or a pattern, values described by
    ``additionalProperties``."""
    names = spec["propertyNames"]
    if "enum" in names:
        line = "Keys: " + ", ".join(f"`{name}`" for name in names["enum"]) + "."
    else:
        line = f"Keys: family names matching `{names['pattern']}`."
    values = spec.get("additionalProperties", {})
    if "propertyNames" in values:
        inner = values["propertyNames"]
        keys = ", ".join(f"`{name}`" for name in inner["enum"]) if "enum" in inner else f"matching `{inner['pattern']}`"
        line += f" Each holds a mapping with keys {keys}, whose values are {type_text(values['additionalProperties'])}."
    else:
        shape = f" matching `{values['pattern']}`" if "pattern" in values else ""
        line += f" Each value is a {type_text(values)}{shape}."
    return line


def _alternatives(spec: dict) -> list[str]:
    """``anyOf: [{required: [a]}, {required: [b]}]`` as a sentence."""
    needed = [option["required"] for option in spec.get("anyOf", []) if set(option) == {"required"}]
    if not needed:
        return []
    return ["At least one of " + ", ".join(" + ".join(f"`{key}`" for key in keys) for keys in needed) + " is required."]


def section_text(name: str, spec: dict, required: bool) -> str:
    lines = [f"## `{name}`", ""]
    status = "Required section." if required else f"Optional section (default `{_value(spec.get('default', {}))}`)."
    description = _line(spec.get("description"))
    if description:
        description = description[0].upper() + description[1:] + ("" if description.endswith(".") else ".")
    lines += [f"**{status}** {description}".strip(), ""]
    if "propertyNames" in spec:
        lines += [_mapping_of_names(spec), ""]
    if "properties" in spec:
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        lines += _rows(spec["properties"], spec.get("required", []))
        lines.append("")
    for sentence in _alternatives(spec):
        lines += [sentence, ""]
    return "\n".join(lines)


def config_readme(schema: dict) -> str:
    """The text of config/README.md for ``schema`` (the parsed config schema)."""
    parts = [HEADER]
    if schema.get("description"):
        parts.append(_line(schema["description"]) + "\n")
    required = schema.get("required", [])
    parts += [section_text(name, spec, name in required) for name, spec in schema["properties"].items()]
    return "\n".join(parts).rstrip("\n") + "\n"


def main(root: Path = ROOT) -> Path:
    """Write config/README.md from the schema; returns its path."""
    from vocoder_energy.core.files import write_text

    path = root / README
    write_text(config_readme(load_schema(root)), path)
    print(f"wrote {path.relative_to(root)}")
    return path


if __name__ == "__main__":
    main()
