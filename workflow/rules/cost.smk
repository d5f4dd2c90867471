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
    script:
        "../scripts/cost.py"
