"""Config checks beyond the JSON schema, run when Snakemake starts (dry-runs included).

A config that would fail hours into a run stops here instead, before any job, with one line that
names the key, what is wrong and what to do: YAML syntax (line and column), schema violations (the
key path), settings that do not fit each other, override values of the wrong type, and every
configured model built on the meta device, so that each constructor check runs without allocating
a single weight.
"""

from __future__ import annotations

import contextlib
import sys
import types
import typing
import warnings
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from vocoder_energy.core.errors import InputError
from vocoder_energy.core.model_entries import (
    CHECKPOINT_KEYS,
    CHECKPOINT_OPTIONAL,
    TRAINED_SIZES,
    is_checkpoint,
    trained_jobs,
)

SCHEMA = "workflow/schemas/config.schema.yaml"
# Audio settings the features are computed with; models receive them unless overridden.
AUDIO_KEYS = ("n_mels", "sample_rate", "hop_length")


class ConfigError(InputError, ValueError):
    """A config value that cannot work; the message starts with its key."""


@contextlib.contextmanager
def config_errors_stop_snakemake():
    """In the Snakefile: a ``ConfigError`` ends Snakemake with its one line (exit status 1), not a traceback."""
    try:
        yield
    except ConfigError as err:
        sys.exit(f"Config error: {err}")


def check_yaml_syntax(path: str | Path) -> None:
    """A YAML syntax error as the file, line and column (Snakemake only says "not valid JSON or YAML").

    A missing file is left to Snakemake, which names it.
    """
    if not Path(path).is_file():
        return
    try:
        yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        detail = err.problem or err.context
        if err.context and err.context_mark and err.problem_mark:  # e.g. an unclosed bracket further up
            opened = err.context_mark
            detail += f", {err.context} that starts on line {opened.line + 1}, column {opened.column + 1}"
        raise ConfigError(
            f"{path}, {where}: YAML syntax error ({detail}); fix the file there "
            "(unbalanced brackets or quotes, a missing ':', tabs in the indentation)"
        ) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err}); fix the file") from None


def schema_error(error: Exception) -> ConfigError:
    """Snakemake's schema ``WorkflowError`` (or a jsonschema ``ValidationError``) as one line naming the key."""
    import jsonschema

    # Snakemake raises its WorkflowError while handling the ValidationError: that is the context.
    found = [error, error.__cause__, error.__context__]
    validation = next((e for e in found if isinstance(e, jsonschema.ValidationError)), None)
    if validation is None:
        return ConfigError(f"config: {error}")
    key = ".".join(str(part) for part in validation.absolute_path) or "config"
    message = validation.message
    if validation.context:  # anyOf/oneOf: say what each alternative wants, not just "not valid"
        message = "needs one of: " + " or ".join(dict.fromkeys(error.message for error in validation.context))
    return ConfigError(f"{key}: {message}; fix it in the config file ({SCHEMA} lists what is allowed)")


def model_hyperparameters(config: dict, family: str, size: str) -> dict[str, Any]:
    """Constructor arguments of one model size: the features' audio settings, then its overrides."""
    audio = {key: config["features"][key] for key in AUDIO_KEYS}
    return audio | (config["models"][family][size] or {})


def check_config(config: dict, build_models: bool = True) -> None:
    """Raise ``ConfigError`` for the first setting that cannot work (the config is schema-validated)."""
    from vocoder_energy.models import add_families, check_hyperparameters, check_inference_options, vocoder_class

    _as_config_error(add_families, config.get("families", {}))
    check_corpus(config["corpus"])
    check_metric_options(config.get("evaluation", {}))
    check_quality_metric(config.get("analysis", {}).get("quality", "auto"), config.get("evaluation", {}))
    features = config["features"]
    _check_hop(features, features["hop_length"])
    for family, sizes in config["models"].items():
        for size, overrides in sizes.items():
            key = f"models.{family}.{size}"
            check_entry(family, size, overrides)
            if is_checkpoint(overrides):
                continue
            cls = _as_config_error(check_hyperparameters, family, size, overrides or {})
            check_types(key, cls, overrides or {})
            for name in ("n_mels", "sample_rate"):
                if (overrides or {}).get(name, features[name]) != features[name]:
                    raise ConfigError(
                        f"{key}.{name}: {overrides[name]} differs from features.{name} {features[name]}, which "
                        f"the features are computed with; remove the override or change features.{name}"
                    )
            if "hop_length" in (overrides or {}):
                _check_hop(features, overrides["hop_length"], f"{key}.hop_length")
            _check_training_clip(key, cls, features, model_hyperparameters(config, family, size))
            if build_models:
                build_on_meta(key, family, size, model_hyperparameters(config, family, size))
    check_deployment(config)
    for family, options in config.get("inference", {}).items():
        key = f"inference.{family}"
        if family not in config["models"]:
            raise ConfigError(
                f"{key}: {family} is not configured under models, so these options would be ignored; "
                f"remove the entry or add {family} to models"
            )
        _as_config_error(check_inference_options, family, options)
        check_types(key, vocoder_class(family), options)
        if build_models:
            for size in (size for model, size in trained_jobs(config["models"]) if model == family):
                build_on_meta(key, family, size, model_hyperparameters(config, family, size) | options)


def check_deployment(config: dict) -> None:
    """``deployment.models`` names configured models; every combination of settings is one that can exist."""
    from vocoder_energy.deployment.settings import sweep, swept_models

    section = config.get("deployment", {})
    configured = [(family, size) for family, sizes in config["models"].items() for size in sizes]
    _as_config_error(swept_models, section, configured)
    _as_config_error(sweep, section, config["measurement"].get("clips", 10))


def check_entry(family: str, label: str, entry: Any) -> None:
    """A ``models:`` entry is a trained size (S/M/L) or a complete checkpoint entry of a known format of this
    family and a known recipe (a missing file is a warning when Snakemake starts, ``missing_checkpoints``; the
    file's contents are checked by its import job, which reads it)."""
    from vocoder_energy.data.recipes import RECIPES
    from vocoder_energy.models.importers import FORMATS, CheckpointImportError

    key = f"models.{family}.{label}"
    if not is_checkpoint(entry):
        if label not in TRAINED_SIZES:
            raise ConfigError(
                f"{key}: {label!r} is not a size we train ({', '.join(TRAINED_SIZES)}); a released model needs "
                f"{{checkpoint: <file>, format: <format>, features: <recipe>}} (config/released.yaml has them all)"
            )
        return
    if label in TRAINED_SIZES:
        raise ConfigError(
            f"{key}: {label} is one of the paper's trained sizes; give the released checkpoint its own label "
            "(e.g. LJ_V1, v2_24k_100_256x), so that its results never pass for a model trained here"
        )
    missing = [name for name in CHECKPOINT_KEYS if name not in entry]
    unknown = sorted(set(entry) - set(CHECKPOINT_KEYS) - set(CHECKPOINT_OPTIONAL))
    if missing or unknown:
        problem = f"missing {', '.join(missing)}" if missing else f"unknown key(s) {', '.join(unknown)}"
        raise ConfigError(
            f"{key}: {problem}; a released checkpoint entry has checkpoint, format and features (and optionally "
            "options)"
        )
    importer = FORMATS.get(entry["format"])
    if importer is None:
        raise ConfigError(f"{key}.format: unknown checkpoint format {entry['format']!r}; known: {', '.join(FORMATS)}")
    if importer.family != family:
        raise ConfigError(
            f"{key}.format: {entry['format']} files hold {importer.family} generators, not {family}; "
            f"put the entry under models.{importer.family} or fix the format"
        )
    if entry["features"] not in RECIPES:
        raise ConfigError(
            f"{key}.features: unknown mel recipe {entry['features']!r}; known: {', '.join(sorted(RECIPES))}"
        )
    try:
        importer.check_options(entry.get("options", {}), f"{key}.options")
    except CheckpointImportError as err:
        raise ConfigError(str(err)) from None
    if not isinstance(entry["checkpoint"], str) or not entry["checkpoint"]:
        raise ConfigError(f"{key}.checkpoint: expected the checkpoint file's path, got {entry['checkpoint']!r}")


def check_metric_options(evaluation: dict) -> None:
    """A metric that needs settings (a predictor file) has them; a missing *file* is not an error here:
    the metric is then skipped with a warning (a predictor may be copied in later)."""
    if "local_mos" in evaluation.get("metrics", ()) and not evaluation.get("local_mos", {}).get("path"):
        raise ConfigError(
            "evaluation.metrics: local_mos needs evaluation.local_mos.path, the predictor file (TorchScript or "
            "ONNX); set it or remove local_mos"
        )


def check_quality_metric(quality: str, evaluation: dict) -> None:
    """analysis.quality naming a metric's column needs that metric in evaluation.metrics: said now, not
    after hours of training when the analysis finds the column missing."""
    from vocoder_energy.analysis.objectives import QUALITY_ALIASES
    from vocoder_energy.evaluation.metrics import METRICS

    column = QUALITY_ALIASES.get(quality, quality)
    for metric in METRICS.values():
        if column in {c.name for c in metric.columns} and metric.name not in evaluation.get("metrics", ()):
            raise ConfigError(
                f"analysis.quality: {quality} is computed by metric {metric.name}, which evaluation.metrics "
                f"does not list; add {metric.name} to evaluation.metrics or choose another quality"
            )


def check_corpus(corpus: dict) -> None:
    """Your own corpus folder, or a local LJSpeech archive, exists before any job is planned on it
    (the features job then checks every metadata line and wav, naming the file and line)."""
    if corpus["source"] == "directory":
        path = corpus.get("path")
        if not path:
            raise ConfigError(
                "corpus.path: source directory reads your corpus from a folder; set corpus.path to one "
                "holding metadata.csv and wavs/"
            )
        if not Path(path).is_dir():
            raise ConfigError(f"corpus.path: {path} is not a folder (relative paths start at {Path.cwd()})")
        if not (Path(path) / "metadata.csv").is_file():
            raise ConfigError(
                f"corpus.path: {path} has no metadata.csv; an LJSpeech-layout corpus holds metadata.csv "
                "(id|text|normalised text per line) and wavs/<id>.wav"
            )
    archive = corpus.get("ljspeech", {}).get("archive")
    if corpus["source"] == "ljspeech" and archive and not Path(archive).is_file():
        raise ConfigError(f"corpus.ljspeech.archive: {archive} is not a file; give the LJSpeech-1.1.tar.bz2 you have")


def _check_hop(features: dict, hop: int, key: str = "features.segment_samples") -> None:
    """Clips must be whole mel frames at every hop length in use (the features' and each model's)."""
    segment = features["segment_samples"]
    if hop < 1:
        raise ConfigError(f"{key}: the hop length must be positive (samples per mel frame), got {hop}")
    if segment % hop:
        raise ConfigError(
            f"{key}: features.segment_samples {segment} is not a multiple of the hop length {hop}, so "
            f"clips would not be whole mel frames; use a multiple (e.g. {max(segment // hop, 1) * hop})"
        )


def _check_training_clip(key: str, cls: type, features: dict, hyperparameters: dict[str, Any]) -> None:
    """Families whose training STFTs need long clips say how long (``min_training_samples``, optional)."""
    minimum = getattr(cls, "min_training_samples", None)
    if minimum is not None and features["segment_samples"] < minimum(**hyperparameters):
        raise ConfigError(
            f"{key}: {cls.family} trains on clips of at least {minimum(**hyperparameters)} samples (its "
            f"longest training STFT); features.segment_samples is {features['segment_samples']}: raise it"
        )


def _as_config_error(check, *args):
    """The model registry's checks already name the key; they become ``ConfigError`` (one line, no traceback)."""
    try:
        return check(*args)
    except ValueError as err:
        raise ConfigError(f"{err}; fix the config") from None


def build_on_meta(key: str, family: str, size: str, hyperparameters: dict[str, Any]) -> None:
    """Build the model on the meta device (shapes, no weights): every constructor check runs in milliseconds."""
    import torch

    from vocoder_energy.models import build_vocoder

    # Weight norm only re-expresses weights that exist, so it cannot fail; on the meta device its
    # norm runs through torch's Python reference kernels, which would make this check 10x slower.
    skip_weight_norm = mock.patch.object(torch.nn.utils.parametrizations, "weight_norm", lambda module: module)
    try:
        with torch.device("meta"), torch.no_grad(), skip_weight_norm, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Initializing zero-element tensors": judged below
            model = build_vocoder(family, size, **hyperparameters)
    except Exception as err:  # any constructor failure is a setting that cannot work
        detail = str(err).removeprefix(f"{family}: ")
        raise ConfigError(
            f"{key}: {family} {size} cannot be built with these settings: {detail}; fix or remove the override"
        ) from None
    empty = [name for name, parameter in model.named_parameters() if parameter.numel() == 0]
    if empty:
        raise ConfigError(
            f"{key}: {family} {size} would have layers without weights ({empty[0]}...): a channel or layer "
            "count of 0 in the overrides; fix or remove the override"
        )


def check_types(key: str, cls: type, values: dict[str, Any]) -> None:
    """Each value has the type the constructor declares (as YAML writes it: lists for tuples)."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception as err:  # e.g. an annotation naming what only TYPE_CHECKING imports
        raise ConfigError(
            f"{key}: cannot read {cls.__name__}.__init__'s annotations ({type(err).__name__}: {err}); "
            "they must resolve at run time"
        ) from None
    for name, value in values.items():
        if name in hints and not fits(value, hints[name]):
            raise ConfigError(
                f"{key}.{name}: expected {describe(hints[name])}, got {value!r} ({type(value).__name__}); fix the value"
            )


def fits(value: Any, annotation: Any) -> bool:
    """Whether a YAML value fits a constructor annotation (int, float, str, bool, lists, tuples, unions)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, arg) for arg in args)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin is list:
        return isinstance(value, list) and all(fits(item, args[0]) for item in value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(fits(item, args[0]) for item in value)
        return len(value) == len(args) and all(fits(item, arg) for item, arg in zip(value, args))
    return True  # an annotation this check does not know: the constructor judges


def describe(annotation: Any) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("NoneType", "None")
