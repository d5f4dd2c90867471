rule synthesize_corpus:
    input:
        code=code("synthesize_corpus.py"),
    output:
        # A file, not directory(): Snakemake compares small inputs by checksum only for file outputs.
        "data/corpus/synthetic/metadata.csv",
    log:
        "logs/corpus/synthetic.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        settings=canonical(config["corpus"]["synthetic"]),
    script:
        "../scripts/synthesize_corpus.py"


rule download_ljspeech:
    input:
        code=code("download.py"),
    output:
        "data/downloads/LJSpeech-1.1.tar.bz2",
    log:
        "logs/corpus/download_ljspeech.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        url=config["corpus"]["ljspeech"]["url"],
        size_bytes=config["corpus"]["ljspeech"]["size_bytes"],
        sha256=config["corpus"]["ljspeech"]["sha256"],
    script:
        "../scripts/download.py"


rule extract_ljspeech:
    input:
        archive=ljspeech_archive(),
        code=code("extract_corpus.py"),
    output:
        "data/corpus/ljspeech/metadata.csv",
    log:
        "logs/corpus/extract_ljspeech.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        clips=config["corpus"]["ljspeech"]["clips"],
        # A local copy is checked here; a download was checked by the download job.
        local=bool(config["corpus"]["ljspeech"]["archive"]),
        size_bytes=config["corpus"]["ljspeech"]["size_bytes"],
        sha256=config["corpus"]["ljspeech"]["sha256"],
    script:
        "../scripts/extract_corpus.py"


rule features:
    input:
        corpus=corpus_metadata(),
        code=code("features.py"),
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


# The test split through a released checkpoint's own mel front end (data/recipes.py), once per recipe and
# shared by every model that takes it: the study's test utterances, resampled to the recipe's rate.
rule recipe_features:
    input:
        corpus=corpus_metadata(),
        study_test=STUDY_TEST,
        code=code("recipe_features.py"),
    output:
        test="data/features/released/{recipe}/test.npz",
        manifest="data/features/released/{recipe}/manifest.json",
    log:
        "logs/features/released/{recipe}.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        # The stretch of each clip the study's features take, in seconds.
        seconds=config["features"]["segment_samples"]
        / config["features"]["sample_rate"],
    script:
        "../scripts/recipe_features.py"
