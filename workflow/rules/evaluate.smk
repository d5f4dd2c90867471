rule generate:
    input:
        generator="results/models/{model}_{size}.pt",
        test=features("test"),
        code=model_code("generate.py", "synthesis", "training", "features"),
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
        generator="results/models/{model}_{size}.pt",
        code=model_code("cost.py", "cost", "energy", "flops", "training"),
    output:
        "results/cost/{model}_{size}.json",
    log:
        "logs/cost/{model}_{size}.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    threads: 2
    resources:
        # Energy counters are device-wide: a GPU slot keeps two probes from measuring at once.
        gpu=1,
    params:
        # Carbon intensity converts results later; it does not change the measurement.
        probe=section("measurement", leave_out=("carbon_intensity_kg_per_kwh",)),
        inference=inference_options,
    script:
        "../scripts/cost.py"
