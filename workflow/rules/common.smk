import os
from pathlib import Path

from snakemake.utils import validate

from vocoder_energy.models import check_hyperparameters, check_inference_options

validate(config, "../schemas/config.schema.yaml")

ROOT = Path(workflow.basedir)
FAMILIES = list(config["models"])
# Every configured (model, size) pair, in config order: one training job each.
JOBS = [(family, size) for family, sizes in config["models"].items() for size in sizes]
for family, size in JOBS:
    check_hyperparameters(family, size, config["models"][family][size] or {})
for family, options in config["inference"].items():
    check_inference_options(family, options)


wildcard_constraints:
    model="|".join(FAMILIES),
    size="S|M|L",
    hop=r"\d+",


def canonical(value):
    """``value`` with dict keys sorted at every level: Snakemake compares params by their text, so
    reordering keys in a config file must not make every job stale."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def section(name, leave_out=()):
    """A config section as job params (key order does not matter)."""
    return canonical({k: v for k, v in config[name].items() if k not in leave_out})


def training_params():
    """Training settings that define the run; the checkpoint interval is operational, so changing
    it neither reruns nor restarts training (the script reads it from the config)."""
    return section("training", leave_out=("checkpoint_every_seconds",))


def overrides(wildcards):
    """The config's hyperparameter overrides for one model size ({} = the paper's preset)."""
    return config["models"][wildcards.model][wildcards.size] or {}


def hyperparameters(wildcards):
    """Constructor arguments of one model size: the features' audio settings, then its overrides."""
    audio = {key: config["features"][key] for key in ("n_mels", "sample_rate")}
    return canonical(
        audio | {"hop_length": model_hop(wildcards)} | overrides(wildcards)
    )


def inference_options(wildcards):
    """Generation-only options of the job's family (reruns generate/quality/cost, not training)."""
    return canonical(config["inference"].get(wildcards.model, {}))


def model_hop(wildcards):
    return overrides(wildcards).get("hop_length", config["features"]["hop_length"])


def corpus_metadata():
    """The corpus's metadata.csv; its wavs sit beside it in wavs/."""
    return f"data/corpus/{config['corpus']['source']}/metadata.csv"


def features(split):
    """Input function: the feature file of ``split`` at the hop length of the job's model."""
    return lambda wildcards: f"data/features/hop{model_hop(wildcards)}/{split}.npz"


def code(script, *modules):
    """The script and package modules a job runs, as inputs: Snakemake compares small inputs by
    checksum, so editing them reruns the job and touching them does not (profiles/default drops
    the mtime-based "code" trigger)."""
    paths = [ROOT / "workflow/scripts" / script]
    paths += [ROOT / "src/vocoder_energy" / f"{module}.py" for module in modules]
    # Relative to the working directory (the clone, normally): a moved clone stays up to date.
    return [os.path.relpath(path) for path in paths]


def model_code(script, *modules):
    """``code`` plus the model family's own module and the shared model surface."""
    return lambda wildcards: code(
        script, "models/__init__", "models/base", f"models/{wildcards.model}", *modules
    )


def per_job(pattern):
    return [pattern.format(model=model, size=size) for model, size in JOBS]


# ---------------------------------------------------------------- analysis (listening ratings, paper)
RATINGS = "data/listening/ratings.csv"
PAPER_TABLES = os.path.relpath(ROOT / "src/vocoder_energy/reference/paper_tables.csv")


def optional_mos(wildcards):
    """The MOS table when the listening test's ratings exist: an optional input, so adding (or removing)
    the ratings reruns the analysis and everything downstream of it (Snakemake's input-set trigger).
    """
    return ["results/analysis/mos.csv"] if os.path.exists(RATINGS) else []
