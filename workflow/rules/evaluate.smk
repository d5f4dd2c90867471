rule generate:
    input:
        generator="results/models/{model}_{size}.pt",
        test=features("test"),
        code=model_code(
            "generate.py",
            "synthesis",
            "training",
            "features",
            "checkpoints",
            "gpu_lease",
        ),
    output:
        "results/generated/{model}_{size}.npz",
    log:
        "logs/generate/{model}_{size}.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    threads: 2
    resources:
        gpu=1,
    params:
        clips=config["evaluation"]["test_clips"],
        inference=inference_options,
    script:
        "../scripts/generate.py"


rule quality:
    input:
        generated="results/generated/{model}_{size}.npz",
        code=code("quality.py", "quality", "metrics", "intervals", "audio"),
    output:
        json="results/quality/{model}_{size}.json",
        utterances="results/quality/{model}_{size}_utterances.csv",
    log:
        "logs/quality/{model}_{size}.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        metrics=config["evaluation"]["metrics"],
        multiscale=config["evaluation"]["d_stft_multiscale"],
    script:
        "../scripts/quality.py"


rule cost:
    input:
        unpack(probe_input),
        generator="results/models/{model}_{size}.pt",
        code=model_code(
            "cost.py",
            "cost",
            *ENERGY_MODULES,
            "features",
            "flops",
            "training",
            "checkpoints",
            "gpu_lease",
        ),
    output:
        "results/cost/{model}_{size}.json",
    log:
        "logs/cost/{model}_{size}.log",
    benchmark:
        "logs/cost/{model}_{size}.benchmark.tsv"
    conda:
        "../../envs/vocoder-energy.yaml"
    # Isolation: energy counters are device- or socket-wide, so on a local run a cost job takes every
    # core (nothing else runs beside it) and the GPU slot; on a cluster the profile asks for a node.
    threads: every_core
    resources:
        gpu=1,
    params:
        # Carbon intensity and the net/gross choice act later (summary); they do not change the measurement.
        probe=section(
            "measurement", leave_out=("carbon_intensity_kg_per_kwh", "energy")
        ),
        inference=inference_options,
    script:
        "../scripts/cost.py"
