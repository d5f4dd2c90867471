rule features:
    input:
        corpus=corpus_metadata(),
        code=code("features.py", "features", "audio", "corpus"),
    output:
        train="data/features/hop{hop}/train.npz",
        test="data/features/hop{hop}/test.npz",
        manifest="data/features/hop{hop}/manifest.json",
    log:
        "logs/features/hop{hop}.log",
    benchmark:
        "results/benchmarks/features/hop{hop}.tsv"
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        settings=lambda wildcards: section("features")
        | {"hop_length": int(wildcards.hop)},
    script:
        "../scripts/features.py"
