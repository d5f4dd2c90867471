rule cost:
    input:
        unpack(probe_input),
        generator="results/models/{model}_{size}.pt",
        code=model_code("cost.py"),
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
        gpu=gpu_slot,
    params:
        # Carbon intensity and the net/gross choice act later (summary); they do not change the measurement.
        probe=section(
            "measurement", leave_out=("carbon_intensity_kg_per_kwh", "energy")
        ),
        inference=inference_options,
        weights="trained",
    script:
        "../scripts/cost.py"


# ------------------------------------------------ Table 2 without training (`snakemake cost_table`)
# Parameters, FLOPs, time and energy do not wait for a training: freshly initialised weights (the ones
# training would start from) go through the same measurement; everything is labelled untrained.
rule untrained_generator:
    input:
        code=model_code("untrained_generator.py"),
    output:
        "results/untrained/models/{model}_{size}.pt",
    log:
        "logs/untrained/models/{model}_{size}.log",
    wildcard_constraints:
        size=TRAINED_SIZES,
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        family=family_class,
        hyperparameters=hyperparameters,
        seed=config["training"]["seed"],
    script:
        "../scripts/untrained_generator.py"


use rule cost as cost_untrained with:
    input:
        unpack(probe_input),
        generator="results/untrained/models/{model}_{size}.pt",
        code=model_code("cost.py"),
    output:
        "results/untrained/cost/{model}_{size}.json",
    log:
        "logs/untrained/cost/{model}_{size}.log",
    benchmark:
        "logs/untrained/cost/{model}_{size}.benchmark.tsv"
    params:
        weights="untrained",


rule cost_table:
    input:
        cost=per_job("results/untrained/cost/{model}_{size}.json", TRAINED),
        code=code("cost_table.py"),
    output:
        csv="results/untrained/table2.csv",
        md="results/untrained/table2.md",
        html="results/untrained/table2.html",
        svg="results/untrained/cost.svg",
        png="results/untrained/cost.png",
    log:
        "logs/untrained/cost_table.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        jobs=TRAINED,
        energy_basis=config["measurement"]["energy"],
    script:
        "../scripts/cost_table.py"
