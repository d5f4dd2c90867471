from snakemake.utils import min_version

from vocoder_energy.core.config_checks import (
    check_yaml_syntax,
    config_errors_stop_snakemake,
)

min_version("9.0")


# A --configfile replaces the embedded default rather than being merged into it, so that e.g.
# config/paper.yaml never inherits the demo's short training budget.
if not workflow.overwrite_configfiles:
    # Snakemake's own message for a YAML syntax error gives no line; this one does.
    with config_errors_stop_snakemake():
        check_yaml_syntax("config.yaml")

    configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/cost.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/listening.smk"
include: "workflow/rules/deployment.smk"


rule all:
    default_target: True
    input:
        "results/summary.csv",
        expand("results/figures/pareto.{ext}", ext=["svg", "png"]),
        # Loss curves of the models trained here (a config of released checkpoints only has none).
        expand("results/figures/losses.{ext}", ext=["svg", "png"]) if TRAINED else [],
        expand("results/analysis/table{n}.{ext}", n=[1, 2], ext=["csv", "md", "html"]),
        "results/report/audio_examples.html",
        rules.paper_reference.output,
        # Energy as deployed: the dataset, a card and a power-trace figure per model, the settings' figure.
        rules.energy_dataset.output,
        rules.energy_cards.output,
        per_job("results/figures/traces/{model}_{size}.png"),
        rules.deployment_figure.output,
        optional_agreement,
