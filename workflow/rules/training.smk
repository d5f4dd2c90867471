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
