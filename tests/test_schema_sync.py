"""The config schema is the one place of every enumeration and default: where the code keeps its own copy
(a choice it validates, a settings class a caller may build without a config), it must equal the schema's."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml

from vocoder_energy.analysis.objectives import COSTS, QUALITY_CHOICES
from vocoder_energy.analysis.summary import ENERGY_BASES
from vocoder_energy.cost.meters import CHOICES
from vocoder_energy.cost.probe import PROBE_INPUTS, ProbeSettings
from vocoder_energy.data.corpus import make_synthetic_corpus
from vocoder_energy.data.features import BAD_FILES, NORMALISATIONS, FeatureSettings
from vocoder_energy.deployment.settings import COMPILE_MODES
from vocoder_energy.deployment.settings import PRECISIONS as DEPLOYMENT_PRECISIONS
from vocoder_energy.evaluation.dnsmos import SHORT_CLIPS
from vocoder_energy.evaluation.metrics import METRICS
from vocoder_energy.listening.stimuli import Design
from vocoder_energy.models import FAMILY_NAME, REGISTRY, SIZES
from vocoder_energy.training.precision import PRECISIONS
from vocoder_energy.training.run import TrainingSettings
from vocoder_energy.training.schedules import SCHEDULES

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())


def section(name: str) -> dict:
    """The ``properties`` of a top-level config section."""
    return SCHEMA["properties"][name]["properties"]


def enum(key: str) -> list:
    """The ``enum`` of a dotted config key; ``[]`` is an array's items, ``<name>`` a mapping's key names."""
    node = SCHEMA
    for part in key.split("."):
        if part == "[]":
            node = node["items"]
        elif part == "<name>":
            node = node["propertyNames"]
        elif part == "*":
            node = node["additionalProperties"]
        else:
            node = node["properties"][part]
    return node["enum"]


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("measurement.meter", CHOICES),
        ("measurement.energy", ENERGY_BASES),
        ("measurement.input", PROBE_INPUTS),
        ("features.normalisation", NORMALISATIONS),
        ("features.bad_files", BAD_FILES),
        ("evaluation.metrics.[]", tuple(METRICS)),
        ("evaluation.dnsmos.short_clips", SHORT_CLIPS),
        ("analysis.quality", QUALITY_CHOICES),
        ("analysis.costs.[]", tuple(COSTS)),
        ("training.precision", PRECISIONS),
        ("training.lr_schedule", SCHEDULES),
        ("deployment.precision.[]", DEPLOYMENT_PRECISIONS),
        ("deployment.compile.[]", COMPILE_MODES),
    ],
)
def test_code_choices_are_the_schema_enums(key, code):
    assert list(code) == enum(key)


@pytest.mark.parametrize("key", ["families", "models", "inference"])
def test_family_names_follow_the_code_s_rule(key):
    assert SCHEMA["properties"][key]["propertyNames"]["pattern"] == f"^{FAMILY_NAME.pattern}$"
    assert all(FAMILY_NAME.fullmatch(name) for name in REGISTRY)


def test_model_labels_are_the_trained_sizes_or_released_labels():
    """S/M/L are trained (the families' presets); any other label matching the schema's pattern, which is the
    catalogue's, names a released checkpoint."""
    from vocoder_energy.core.model_entries import TRAINED_SIZES
    from vocoder_energy.models.importers.catalogue import LABEL

    assert TRAINED_SIZES == SIZES
    pattern = SCHEMA["properties"]["models"]["additionalProperties"]["propertyNames"]["pattern"]
    assert pattern == LABEL.pattern and all(LABEL.fullmatch(size) for size in SIZES)


def test_every_metric_that_needs_no_settings_is_computed_by_default():
    assert section("evaluation")["metrics"]["default"] == [n for n, m in METRICS.items() if not m.needs_options]
    assert [n for n, m in METRICS.items() if m.needs_options] == ["local_mos"]
    assert set(section("evaluation")["local_mos"]["properties"]) == {"path", "sample_rate"}
    short_clips = section("evaluation")["dnsmos"]["properties"]["short_clips"]["default"]
    assert (
        short_clips
        == SHORT_CLIPS[0]
        == inspect.signature(METRICS["dnsmos"].score_clips).parameters["short_clips"].default
    )  # the authors' rule, in the schema and in code


def settings_defaults(cls) -> dict:
    return {field.name: field.default for field in dataclasses.fields(cls) if field.default is not dataclasses.MISSING}


# Config keys a settings class does not take: the workflow reads them elsewhere (see the rules' params).
LEFT_OUT = {
    "measurement": {"carbon_intensity_kg_per_kwh", "energy"},  # the summary's, not the cost probe's
    "listening": {"max_gold_failures"},  # the MOS rule's, not the stimuli's
}
# Code defaults that differ from the schema's on purpose, with the reason.
DIFFERENT = {
    # A direct caller of the training loop trains without validation unless it asks; the workflow always
    # passes the config's value (validation every 1800 s by default).
    ("training", "validation_every_seconds"): (None, 1800),
}


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (FeatureSettings, "features"),
        (ProbeSettings, "measurement"),
        (Design, "listening"),
        (TrainingSettings, "training"),
    ],
)
def test_settings_classes_take_the_schema_keys_with_its_defaults(cls, name):
    keys = set(section(name)) - LEFT_OUT.get(name, set())
    assert {field.name for field in dataclasses.fields(cls)} == keys
    for key, default in settings_defaults(cls).items():
        schema_default = section(name)[key].get("default")
        expected = DIFFERENT.get((name, key), (schema_default, schema_default))
        assert (default, schema_default) == expected, f"{cls.__name__}.{key}"


def test_synthetic_corpus_defaults_are_the_schema_defaults():
    parameters = inspect.signature(make_synthetic_corpus).parameters
    schema = SCHEMA["properties"]["corpus"]["properties"]["synthetic"]["properties"]
    for key, spec in schema.items():
        assert parameters[key].default == spec["default"], key
