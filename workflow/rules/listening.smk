# The MOS listening test: not part of `all` (it needs people); build it with `snakemake listening_test`,
# then serve it with `vocoder-energy-listen serve` (see docs/listening-test.md).


rule listening_test:
    input:
        generated=per_job("results/generated/{model}_{size}.npz"),
        code=code("listening_stimuli.py"),
    output:
        test=directory("results/listening/test"),
        key="results/listening/key.csv",
    log:
        "logs/listening_test.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        systems=SYSTEMS,
        design=section("listening", leave_out=("max_gold_failures",)),
        sample_rate=config["features"]["sample_rate"],
    script:
        "../scripts/listening_stimuli.py"
