rule train:
    input:
        features=features("train"),
        # A few held-out clips to validate on while training (monitoring only).
        validation=features("test"),
        code=model_code("train.py"),
    output:
        generator="results/models/{model}_{size}.pt",
        summary="results/train/{model}_{size}.json",
        losses="results/train/{model}_{size}_losses.jsonl",
    log:
        "logs/train/{model}_{size}.log",
    benchmark:
        "results/benchmarks/train/{model}_{size}.tsv"
    wildcard_constraints:
        size=TRAINED_SIZES,
    # Trainings are the longest jobs: started first, the short ones fill the cores around them.
    priority: 1
    conda:
        "../../envs/vocoder-energy.yaml"
    threads: torch_threads
    resources:
        gpu=gpu_slot,
    params:
        family=family_class,
        hyperparameters=hyperparameters,
        training=training_params(),
        # Outside the declared outputs, which Snakemake deletes before a job runs.
        checkpoint_root="results/checkpoints",
        operational=OPERATIONAL_TRAINING,
    script:
        "../scripts/train.py"


# A released checkpoint instead of a training (models.<family>.<label>: {checkpoint, format, features}): its
# file is read by the original project's importer, checked against its mel recipe and written as a generator
# file, which every later stage reads as any other. Replacing the file (its date) reimports it.
rule import_checkpoint:
    input:
        checkpoint=lambda wildcards: released_entry(wildcards)["checkpoint"],
        code=code("import_checkpoint.py"),
    output:
        generator="results/models/{model}_{size}.pt",
        provenance="results/imported/{model}_{size}.json",
    log:
        "logs/import/{model}_{size}.log",
    wildcard_constraints:
        size=RELEASED_LABELS,
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        format=lambda wildcards: released_entry(wildcards)["format"],
        features=lambda wildcards: released_entry(wildcards)["features"],
        options=lambda wildcards: canonical(
            released_entry(wildcards).get("options", {})
        ),
    script:
        "../scripts/import_checkpoint.py"
