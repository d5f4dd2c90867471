rule generate:
    input:
        generator="results/models/{model}_{size}.pt",
        test=features("test"),
        code=model_code("generate.py"),
    output:
        "results/generated/{model}_{size}.npz",
    log:
        "logs/generate/{model}_{size}.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    threads: torch_threads
    resources:
        gpu=gpu_slot,
    params:
        clips=config["evaluation"]["test_clips"],
        inference=inference_options,
    script:
        "../scripts/generate.py"


rule quality:
    input:
        generated="results/generated/{model}_{size}.npz",
        code=code("quality.py"),
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
