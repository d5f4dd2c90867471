# ------------------------------------------------------------------ energy as deployed (docs/deployment.md)
# Every setting of deployment: is a cost point of each swept model, measured in one job per model (the
# paper's setting first, as the baseline in the same process). Power traces, a stability verdict, an energy
# card per model and results/energy_dataset.csv (one row per measurement) are made for every model.


rule deployment_sweep:
    input:
        unpack(probe_input),
        generator="results/models/{model}_{size}.pt",
        code=model_code("deployment_sweep.py"),
    output:
        "results/deployment/{model}_{size}.json",
    log:
        "logs/deployment/{model}_{size}.log",
    benchmark:
        "logs/deployment/{model}_{size}.benchmark.tsv"
    conda:
        "../../envs/vocoder-energy.yaml"
    # As a cost job: every core and the GPU slot, so that nothing runs beside an energy window.
    threads: every_core
    resources:
        gpu=gpu_slot,
    params:
        probe=section(
            "measurement", leave_out=("carbon_intensity_kg_per_kwh", "energy")
        ),
        inference=inference_options,
        settings=[setting.as_dict() for setting in SETTINGS],
    script:
        "../scripts/deployment_sweep.py"


# A precision changes the audio: its quality is measured on its own test clips.
rule deployment_generate:
    input:
        generator="results/models/{model}_{size}.pt",
        test=features("test"),
        code=model_code("deployment_generate.py"),
    output:
        "results/deployment/generated/{model}_{size}_{precision}.npz",
    log:
        "logs/deployment/generate/{model}_{size}_{precision}.log",
    wildcard_constraints:
        precision="bf16|fp16",
    conda:
        "../../envs/vocoder-energy.yaml"
    threads: torch_threads
    resources:
        gpu=gpu_slot,
    params:
        clips=config["evaluation"]["test_clips"],
        inference=inference_options,
    script:
        "../scripts/deployment_generate.py"


use rule quality as deployment_quality with:
    input:
        unpack(predictor_file),
        generated="results/deployment/generated/{model}_{size}_{precision}.npz",
        code=code("quality.py"),
    output:
        json="results/deployment/quality/{model}_{size}_{precision}.json",
        utterances="results/deployment/quality/{model}_{size}_{precision}_utterances.csv",
    log:
        "logs/deployment/quality/{model}_{size}_{precision}.log",
    wildcard_constraints:
        precision="bf16|fp16",


rule energy_dataset:
    input:
        origin=[origin_document(model, size) for model, size in JOBS],
        quality=per_job("results/quality/{model}_{size}.json"),
        cost=per_job("results/cost/{model}_{size}.json"),
        sweep=per_job("results/deployment/{model}_{size}.json", SWEPT),
        precision_quality=[
            f"results/deployment/quality/{model}_{size}_{precision}.json"
            for model, size in SWEPT
            for precision in SWEPT_PRECISIONS
        ],
        code=code("energy_dataset.py"),
    output:
        csv=report(
            "results/energy_dataset.csv",
            caption="../report/energy_dataset.rst",
            category="Energy as deployed",
        ),
        schema="results/energy_dataset.schema.json",
    log:
        "logs/energy_dataset.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        jobs=JOBS,
        swept=SWEPT,
        precisions=SWEPT_PRECISIONS,
        energy_basis=config["measurement"]["energy"],
        carbon_intensity=config["measurement"]["carbon_intensity_kg_per_kwh"],
    script:
        "../scripts/energy_dataset.py"


rule energy_cards:
    input:
        dataset="results/energy_dataset.csv",
        traces=per_job("results/figures/traces/{model}_{size}.png"),  # each card shows its model's
        code=code("energy_cards.py"),
    output:
        markdown=per_job("results/cards/{model}_{size}.md"),
        html=report(
            per_job("results/cards/{model}_{size}.html"),
            caption="../report/energy_card.rst",
            category="Energy as deployed",
        ),
    log:
        "logs/energy_cards.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        jobs=JOBS,
    script:
        "../scripts/energy_cards.py"


rule power_traces:
    input:
        unpack(swept_sweep),
        cost="results/cost/{model}_{size}.json",
        code=code("power_traces.py"),
    output:
        report(
            multiext("results/figures/traces/{model}_{size}", ".png", ".svg"),
            caption="../report/power_traces.rst",
            category="Energy as deployed",
        ),
    log:
        "logs/figures/traces/{model}_{size}.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    script:
        "../scripts/power_traces.py"


rule deployment_figure:
    input:
        dataset="results/energy_dataset.csv",
        code=code("deployment_figure.py"),
    output:
        report(
            multiext("results/figures/deployment", ".png", ".svg"),
            caption="../report/deployment.rst",
            category="Energy as deployed",
        ),
    log:
        "logs/figures/deployment.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    script:
        "../scripts/deployment_figure.py"
