import os
import sys
from pathlib import Path

import torch

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from vocoder_energy.core.fingerprints import FingerprintStore
from vocoder_energy.core.model_entries import (
    available_models,
    checkpoint_jobs,
    missing_checkpoints,
    trained_jobs,
)
from vocoder_energy.data.recipes import RECIPES
from vocoder_energy.deployment.settings import sweep, swept_models
from vocoder_energy.evaluation.metrics import reference_free
from vocoder_energy.listening.ratings import RATERS_PATH, RATINGS_PATH
from vocoder_energy.models import family_file, family_target
from vocoder_energy.core.config_checks import (
    check_config,
    config_errors_stop_snakemake,
    model_hyperparameters,
    schema_error,
)

# A bad config stops every command, dry-runs included, before any job: one line naming the key.
with config_errors_stop_snakemake():
    try:
        validate(config, "../schemas/config.schema.yaml")
    except WorkflowError as err:
        raise schema_error(err) from None
    # Building every model on the meta device once is enough: jobs re-reading the workflow skip it.
    check_config(config, build_models=workflow.is_main_process)

ROOT = Path(workflow.basedir)
FAMILIES = list(config["models"])
# A released checkpoint not downloaded yet is left out of the run, said here (core/model_entries.py).
if workflow.is_main_process:
    for line in missing_checkpoints(config["models"]):
        print(f"WARNING: {line}", file=sys.stderr)
MODELS = available_models(config["models"])
if not MODELS:
    sys.exit(
        "Config error: models: every configured model is a released checkpoint whose file is not there yet "
        "(see the warnings above); download one, or write stand-ins with "
        "python -m vocoder_energy.models.importers.synthetic"
    )
# Every (model, size) pair of the run, in config order: one generator each, trained or imported.
JOBS = [(family, size) for family, sizes in MODELS.items() for size in sizes]
# Sizes S/M/L are trained here; any other label is a released checkpoint.
TRAINED = trained_jobs(MODELS)
RELEASED = checkpoint_jobs(MODELS)
# Their names in the listening test, its key and the ratings ("{model}_{size}").
SYSTEMS = [f"{model}_{size}" for model, size in JOBS]
# Energy as deployed (deployment:, checked with the config): the models swept, the settings of the
# sweep (the paper's first) and the precisions whose own output has its quality measured.
SWEPT = [
    job
    for job in swept_models(
        config["deployment"],
        [
            (family, size)
            for family, sizes in config["models"].items()
            for size in sizes
        ],
    )
    if job
    in JOBS  # a released checkpoint not downloaded yet is left out, as everywhere
]
SETTINGS = sweep(config["deployment"], config["measurement"]["clips"])
SWEPT_PRECISIONS = sorted(
    {setting.precision for setting in SETTINGS if setting.changes_audio}
)


def alternatives(names):
    """A wildcard pattern matching exactly ``names`` (nothing at all when there are none)."""
    return "|".join(sorted(set(names), key=len, reverse=True)) or "(?!)"


TRAINED_SIZES = alternatives(size for _, size in TRAINED)
RELEASED_LABELS = alternatives(label for _, label in RELEASED)


wildcard_constraints:
    model="|".join(FAMILIES),
    size=alternatives(size for _, size in JOBS),
    hop=r"\d+",
    recipe=alternatives(RECIPES),


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


# Training settings that change how a run is watched, not what it trains.
OPERATIONAL_TRAINING = (
    "checkpoint_every_seconds",
    "validation_every_seconds",
    "validation_clips",
)


def training_params():
    """Training settings that define the run; the operational ones neither rerun nor restart
    training (the script reads them from the config)."""
    return section("training", leave_out=OPERATIONAL_TRAINING)


def hyperparameters(wildcards):
    """Constructor arguments of one model size: the features' audio settings, then its overrides."""
    return canonical(model_hyperparameters(config, wildcards.model, wildcards.size))


def family_class(wildcards):
    """The family's ``module:Class``: naming another class under ``families:`` retrains."""
    return family_target(wildcards.model)


def inference_options(wildcards):
    """Generation-only options of the job's family (reruns generate/quality/cost, not training)."""
    return canonical(config["inference"].get(wildcards.model, {}))


def model_hop(wildcards):
    return model_hyperparameters(config, wildcards.model, wildcards.size)["hop_length"]


def released_entry(wildcards):
    return RELEASED[(wildcards.model, wildcards.size)]


def corpus_metadata():
    """The corpus's metadata.csv; its wavs sit beside it in wavs/. Your own folder is read in place."""
    corpus = config["corpus"]
    if corpus["source"] == "directory":
        return os.path.join(corpus["path"], "metadata.csv")
    return f"data/corpus/{corpus['source']}/metadata.csv"


def ljspeech_archive():
    """The LJSpeech archive to extract: a local copy when the config names one, else the download."""
    return (
        config["corpus"]["ljspeech"]["archive"] or "data/downloads/LJSpeech-1.1.tar.bz2"
    )


def features(split):
    """Input function: the feature file of ``split`` at the hop length of the job's model; for a released
    checkpoint, the test split through its own mel recipe (it has no training split)."""

    def path(wildcards):
        if (wildcards.model, wildcards.size) in RELEASED:
            return f"data/features/released/{released_entry(wildcards)['features']}/{split}.npz"
        return f"data/features/hop{model_hop(wildcards)}/{split}.npz"

    return path


# The study's own test split, whose utterances every recipe's features take again.
STUDY_TEST = f"data/features/hop{config['features']['hop_length']}/test.npz"


# Each job's code is its script's import closure inside the package, fingerprinted module by module with
# comments, docstrings and formatting left out (vocoder_energy.core.fingerprints): a reworded comment
# reruns nothing, any code change reruns the jobs that run it, and `snakemake -n` names the module.
FINGERPRINTS = FingerprintStore(
    ".snakemake/fingerprints", ROOT, package_dir=ROOT / "src" / "vocoder_energy"
)
# Every fingerprint file exists once the workflow is read: Snakemake may list a folder before an input
# function runs, and a file written later would then look missing.
FINGERPRINTS.closure_files(
    *(ROOT / "workflow/scripts").glob("*.py"),
    *(family_file(family, FINGERPRINTS.package_dir) for family in FAMILIES),
)


def code(script):
    """Fingerprint files of ``script`` and of every package module it imports, as job inputs."""
    return FINGERPRINTS.closure_files(ROOT / "workflow/scripts" / script)


def model_code(script):
    """``code`` plus the job's model family (imported by name, built in or from another package)."""
    return lambda wildcards: FINGERPRINTS.closure_files(
        ROOT / "workflow/scripts" / script,
        family_file(wildcards.model, FINGERPRINTS.package_dir),
    )


def probe_input(wildcards):
    """The test split's features when the cost probe generates from them (measurement.input: test)."""
    if config["measurement"]["input"] == "test":
        return {"test": features("test")(wildcards)}
    return {}


# With CUDA here, training, generation and cost run on the GPUs and each takes a `gpu` slot
# (`--resources gpu=N`: N at once, one GPU each). Without it the same jobs run on the CPU, take no GPU
# slot and share the cores instead (a cluster profile sets both per rule).
LOCAL_GPUS = torch.cuda.device_count()


def gpu_slot(wildcards):
    return 1 if LOCAL_GPUS else 0


def torch_threads(wildcards):
    """Threads of a training or generation job: 2 beside a GPU (the work is on the GPU); on a CPU the
    cores shared among the trainings, at least one each, so that several run at once and one job's
    single-threaded start-up, validation and checkpoint writing leave no core idle."""
    if LOCAL_GPUS:
        return 2
    return max(1, (workflow.resource_settings.cores or 1) // len(JOBS))


def every_core(wildcards):
    """All cores of a local run (--cores), so that no other job runs beside an energy window; 1 where
    no core count is known (a cluster run, whose profile reserves a whole node instead).
    """
    return workflow.resource_settings.cores or 1


def per_job(pattern, jobs=JOBS):
    return [pattern.format(model=model, size=size) for model, size in jobs]


def per_job_sorted(pattern, jobs=JOBS):
    """``per_job`` in a fixed order, for outputs that must not change when models are reordered."""
    return per_job(pattern, sorted(jobs))


def swept_sweep(wildcards):
    """A swept model's sweep, whose settings' traces join the cost job's in its figure."""
    if (wildcards.model, wildcards.size) in SWEPT:
        return {"sweep": f"results/deployment/{wildcards.model}_{wildcards.size}.json"}
    return {}


def origin_document(model, size):
    """Where a generator came from: its training summary, or a released checkpoint's provenance."""
    if (model, size) in RELEASED:
        return f"results/imported/{model}_{size}.json"
    return f"results/train/{model}_{size}.json"


# ---------------------------------------------------------------- analysis (listening ratings, paper)
RATINGS = RATINGS_PATH  # the listening test's export (vocoder-energy-listen export writes it there)
RATERS = RATERS_PATH  # the export's screening (gold questions), beside the ratings
PAPER_TABLES = os.path.relpath(ROOT / "src/vocoder_energy/reference/paper_tables.csv")


# MOS predictors among evaluation.metrics: they score the ground truth too (rule ground_truth_quality),
# from the test split at the smallest hop of the study (the split is the same at every hop unless a clip is
# shorter than a hop, features.min_clip_samples' default).
REFERENCE_FREE_METRICS = reference_free(config["evaluation"]["metrics"])
GROUND_TRUTH_HOP = min(
    (
        model_hyperparameters(config, model, size)["hop_length"]
        for model, size in TRAINED
    ),
    default=config["features"]["hop_length"],
)


# Settings of the metrics that take some (evaluation.dnsmos: short clips; evaluation.local_mos: the file).
METRIC_OPTIONS = {
    name: config["evaluation"][name]
    for name in config["evaluation"]["metrics"]
    if name in config["evaluation"]
}


LOCAL_PREDICTOR = METRIC_OPTIONS.get("local_mos", {}).get("path")
if workflow.is_main_process and LOCAL_PREDICTOR and not os.path.isfile(LOCAL_PREDICTOR):
    # Said here, where the user looks, and again in each quality job's log.
    print(
        f"WARNING: evaluation.local_mos.path {LOCAL_PREDICTOR} does not exist: "
        "local_mos is left unavailable (NaN) until the file is there (then the quality jobs rerun)",
        file=sys.stderr,
    )


def predictor_file(wildcards):
    """The local_mos predictor file as an input once it exists: replacing it rescores; while it is
    missing the quality jobs run without it (the metric left unavailable, with a warning).
    """
    if LOCAL_PREDICTOR and os.path.isfile(LOCAL_PREDICTOR):
        return {"predictor": LOCAL_PREDICTOR}
    return {}


def optional_ground_truth(wildcards):
    """The ground truth's scores when a reference-free metric is chosen (Table 1's ceiling row)."""
    return ["results/quality/ground_truth.json"] if REFERENCE_FREE_METRICS else []


def optional_agreement(wildcards):
    """Predicted against human MOS (rule agreement), once the listening test has ratings."""
    if not os.path.exists(RATINGS):
        return []
    return [
        "results/analysis/agreement_correlations.csv",
        "results/figures/agreement.png",
    ]


def optional_mos(wildcards):
    """The MOS table when the listening test's ratings exist: an optional input, so adding (or removing)
    the ratings reruns the analysis and everything downstream of it (Snakemake's input-set trigger).
    """
    return ["results/analysis/mos.csv"] if os.path.exists(RATINGS) else []


def optional_screening(wildcards):
    """The raters' screening when the export wrote one: MOS leaves out raters who failed gold questions
    (without it, only their anchor ratings can show that)."""
    return [RATERS] if os.path.exists(RATERS) else []
