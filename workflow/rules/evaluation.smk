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


# The ground truth's own scores under the reference-free metrics (MOS predictors such as dnsmos): the
# ceiling of Table 1's columns, computed once for all models from the test split.
rule ground_truth_quality:
    input:
        unpack(predictor_file),
        test=f"data/features/hop{GROUND_TRUTH_HOP}/test.npz",
        code=code("ground_truth_quality.py"),
    output:
        json="results/quality/ground_truth.json",
        utterances="results/quality/ground_truth_utterances.csv",
    log:
        "logs/quality/ground_truth.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        metrics=REFERENCE_FREE_METRICS,
        options=METRIC_OPTIONS,
        clips=config["evaluation"]["test_clips"],
    script:
        "../scripts/ground_truth_quality.py"


rule quality:
    input:
        unpack(predictor_file),
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
        options=METRIC_OPTIONS,
        multiscale=config["evaluation"]["d_stft_multiscale"],
    script:
        "../scripts/quality.py"
