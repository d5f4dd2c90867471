"""Configs that would fail hours into a run stop the dry-run instead, with one line naming the key."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from snakemake.exceptions import WorkflowError
from test_workflow import only_models

from vocoder_energy.core.config_checks import (
    ConfigError,
    check_config,
    check_yaml_syntax,
    describe,
    fits,
    model_hyperparameters,
    schema_error,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((ROOT / "tests" / "data" / "tiny.yaml").read_text())
FEATURES = {"sample_rate": 16000, "segment_samples": 16384, "n_mels": 80, "n_fft": 2048, "hop_length": 256}


def config(**changes) -> dict:
    """The tiny test config with the schema's feature defaults filled in, then ``changes`` (per section)."""
    result = copy.deepcopy(TINY)
    result["features"] = FEATURES | result["features"]
    for section, values in changes.items():
        result[section] = values
    return result


# --------------------------------------------------------------------------- the checks themselves
def test_the_paper_and_tiny_configs_pass_with_every_model_built_on_the_meta_device():
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    paper["features"] = FEATURES | paper["features"]
    check_config(paper)  # all 18 configurations
    check_config(config())


@pytest.mark.parametrize(
    "models, message",
    [
        ({"hifigan": {"S": {"upsample_rates": [8, 8, 2]}}}, r"^models\.hifigan\.S: hifigan S cannot be built .*"
         r"upsample_rates \[8, 8, 2\] multiply to 128, hop_length is 256; fix or remove the override$"),
        ({"waveflow": {"M": {"height": 24}}}, r"^models\.waveflow\.M: .*hop_length 256 is not a multiple of height 24"),
        ({"hifigan": {"S": {"upsample_initial_channel": "16"}}},
         r"^models\.hifigan\.S\.upsample_initial_channel: expected int, got '16' \(str\); fix the value$"),
        ({"melgan": {"L": {"ratios": [8, 8, "2", 2]}}}, r"^models\.melgan\.L\.ratios: expected list\[int\]"),
        ({"diffwave": {"S": {"n_mels": 100}}}, r"^models\.diffwave\.S\.n_mels: 100 differs from features\.n_mels 80"),
        ({"wavegrad": {"S": {"hop_length": 300}}},
         r"^models\.wavegrad\.S\.hop_length: features\.segment_samples 16384 is not a multiple of the hop length 300"),
        ({"hifigan": {"S": {"channels": 4}}}, r"^models\.hifigan\.S: unknown hyperparameter\(s\) channels"),
        ({"diffwave": {"S": {"residual_channels": 0}}}, r"^models\.diffwave\.S: diffwave S would have layers without"),
        ({"diffwave": {"S": {"hop_length": 0}}}, r"^models\.diffwave\.S\.hop_length: the hop length must be positive"),
    ],
)  # fmt: skip
def test_model_overrides_that_cannot_work_name_the_key(models, message):
    with pytest.raises(ConfigError, match=message):
        check_config(only_models(config(), models))


@pytest.mark.parametrize("family", ["vocos", "bigvgan"])
def test_clips_too_short_for_a_familys_training_stfts_are_refused_before_any_job(family):
    bad = config()
    bad["features"]["segment_samples"] = 1024  # 4 frames: too short for their 2048-point STFTs
    bad = only_models(bad, {family: TINY["models"][family]})
    with pytest.raises(ConfigError, match=rf"^models\.{family}\.S: {family} trains on clips of at least 1025 samples"):
        check_config(bad, build_models=False)
    bad["features"]["segment_samples"] = 1280
    check_config(bad, build_models=False)


def test_the_segment_must_be_whole_frames_at_the_features_hop():
    bad = config()
    bad["features"]["segment_samples"] = 16000
    with pytest.raises(
        ConfigError, match=r"^features\.segment_samples: .* not a multiple of the hop length 256.* 15872"
    ):
        check_config(bad)


@pytest.mark.parametrize(
    "inference, message",
    [
        ({"wavegrad": {"inference_steps": 6}}, None),
        ({"hifigan": {}}, r"^inference\.hifigan: hifigan is not configured under models"),
        ({"diffwave": {"fast_sampling": "yes"}}, r"^inference\.diffwave\.fast_sampling: expected bool, got 'yes'"),
        ({"waveflow": {"reverse": "backwards"}}, r"^inference\.waveflow: waveflow S cannot be built.*backwards"),
        ({"waveflow": {"height": 4}}, r"^inference\.waveflow: height cannot change at inference"),
    ],
)
def test_inference_entries_are_checked_against_the_configured_models(inference, message):
    models = {"wavegrad": {"S": {}}, "diffwave": {"S": {}}, "waveflow": {"S": {}}}
    configured = only_models(config(), models) | {"inference": inference}
    if message is None:
        check_config(configured)
    else:
        with pytest.raises(ConfigError, match=message):
            check_config(configured)


def test_hyperparameters_are_the_features_audio_settings_then_the_overrides():
    assert model_hyperparameters(config(), "wavegrad", "S") == {
        "n_mels": 80,
        "sample_rate": 16000,
        "hop_length": 512,
        "inference_steps": 3,
    }


def test_type_matching_follows_yaml():
    assert fits(3, int) and not fits(3.0, int) and not fits(True, int) and fits(3, float)
    assert fits([0.8, 0.99], tuple[float, float]) and not fits([0.8], tuple[float, float])
    assert fits(None, list[int] | None) and fits([1, 2], list[int] | None) and not fits([1, "2"], list[int] | None)
    assert fits([[1, 3], [5]], list[list[int]]) and not fits("1", list[int])
    assert describe(int) == "int" and describe(list[int] | None) == "list[int] | None"


def test_a_yaml_syntax_error_names_the_line_and_column(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("corpus:\n  source: synthetic\nfeatures: {n_mels: 80\nmodels: {melgan: {S: {}}}\n")
    with pytest.raises(ConfigError, match=r"config\.yaml, line 4, column 7: YAML syntax error \(expected ',' or '}'"):
        check_yaml_syntax(path)


def test_a_schema_violation_names_the_key_path():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    bad = config()
    bad["features"]["n_fft"] = 0
    try:
        try:
            jsonschema.validate(bad, schema)
        except jsonschema.ValidationError as err:
            raise WorkflowError("Error validating config file.", err)  # noqa: B904 - as Snakemake's validate does
    except WorkflowError as err:
        error = schema_error(err)
    assert str(error).startswith("features.n_fft: 0 is less than the minimum of 1; fix it in the config file")


def test_a_schema_alternative_says_what_each_option_wants():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    bad = config(training={"batch_size": 2})
    with pytest.raises(jsonschema.ValidationError) as err:
        jsonschema.validate(bad, schema)
    assert str(schema_error(err.value)).startswith(
        "training: needs one of: 'max_steps' is a required property or 'max_seconds' is a required property;"
    )


# --------------------------------------------------------------------------- through `snakemake -n`
@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    from test_workflow import clone

    return clone(tmp_path_factory.mktemp("config") / "repo")


def dry_run(repo, configfile=None):
    args = ["--configfile", str(configfile)] if configfile else []
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", *args], capture_output=True, text=True, cwd=repo, timeout=300
    )


def one_model(**features) -> dict:
    return only_models(TINY, {"diffwave": TINY["models"]["diffwave"]}) | {"features": TINY["features"] | features}


@pytest.mark.parametrize(
    "bad, message",
    [
        (one_model(n_mels=-3), "features.n_mels: -3 is less than the minimum of 1"),
        (one_model(sample_rate=0), "features.sample_rate: 0 is less than the minimum of 1"),
        (one_model(segment_samples=1000), "features.segment_samples: features.segment_samples 1000 is not a multiple"),
        (
            one_model() | {"models": {"hifigan": {"S": {"upsample_rates": [8, 8, 2]}}}},
            "models.hifigan.S: hifigan S cannot be built with these settings: upsample_rates [8, 8, 2] multiply to 128",
        ),
        (
            one_model() | {"models": {"diffwave": {"S": {"residual_channels": 4.5}}}},
            "models.diffwave.S.residual_channels: expected int, got 4.5 (float)",
        ),
        (one_model() | {"inference": {"wavegrad": {"inference_steps": 6}}}, "inference.wavegrad: wavegrad is not"),
    ],
    ids=["n_mels", "sample_rate", "segment", "upsampling", "type", "inference"],
)
def test_the_dry_run_stops_with_one_line_naming_the_key(repo, tmp_path, bad, message):
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump(bad))
    result = dry_run(repo, configfile)
    assert result.returncode == 1
    assert f"Config error: {message}" in result.stderr, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "Job stats" not in result.stdout  # stopped before planning any job


def test_a_yaml_syntax_error_in_config_yaml_stops_the_dry_run_with_line_and_column(tmp_path):
    from test_workflow import clone

    broken = clone(tmp_path / "repo")
    text = (ROOT / "config.yaml").read_text().replace("test_clips: 2", "test_clips: [2")
    (broken / "config.yaml").write_text(text)
    # Where the unclosed bracket opened, 1-based as YAML reports it.
    (opened,) = [n for n, line in enumerate(text.splitlines(), 1) if "test_clips: [2" in line]
    column = text.splitlines()[opened - 1].index("[") + 1
    result = dry_run(broken)
    assert result.returncode == 1
    expected = re.compile(
        r"Config error: config\.yaml, line \d+, column \d+: YAML syntax error \(expected ',' or '\]', but got ':', "
        rf"while parsing a flow sequence that starts on line {opened}, column {column}\)"
    )
    assert expected.search(result.stderr), result.stderr
