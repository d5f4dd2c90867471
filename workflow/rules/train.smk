rule train:
    input:
        features=features("train"),
        code=model_code("train.py", "training", "audio", "features"),
    output:
        generator="results/models/{model}_{size}.pt",
        summary="results/train/{model}_{size}.json",
        losses="results/train/{model}_{size}_losses.jsonl",
    params:
        hyperparameters=hyperparameters,
        training=section("training"),
        # Outside the declared outputs, which Snakemake deletes before a job runs.
        checkpoint_root="results/checkpoints",
    threads: 2
    resources:
        gpu=1,
    log:
        "logs/train/{model}_{size}.log",
    benchmark:
        "benchmarks/train/{model}_{size}.tsv"
    conda:
        "../../envs/vocoder-energy.yaml"
    script:
        "../scripts/train.py"
