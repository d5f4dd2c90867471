from snakemake.utils import min_version

min_version("9.0")


# A --configfile replaces the embedded default rather than being merged into it, so that e.g.
# config/paper.yaml never inherits the demo's short training budget.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/listening.smk"


rule all:
    default_target: True
    input:
        "results/summary.csv",
        expand("results/figures/pareto.{ext}", ext=["svg", "png"]),
