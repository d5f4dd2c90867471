rule summary:
    input:
        # The training summary, or a released checkpoint's provenance.
        origin=[origin_document(model, size) for model, size in JOBS],
        quality=per_job("results/quality/{model}_{size}.json"),
        cost=per_job("results/cost/{model}_{size}.json"),
        code=code("summary.py"),
    output:
        report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        "logs/summary.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        jobs=JOBS,
        energy_basis=config["measurement"]["energy"],
        carbon_intensity=config["measurement"]["carbon_intensity_kg_per_kwh"],
    script:
        "../scripts/summary.py"


rule mos:
    input:
        ratings=RATINGS,
        raters=optional_screening,
        generated=per_job("results/generated/{model}_{size}.npz"),
        code=code("mos.py"),
    output:
        report(
            "results/analysis/mos.csv",
            caption="../report/mos.rst",
            category="Quality",
        ),
    log:
        "logs/analysis/mos.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        systems=SYSTEMS,
        bootstrap=config["analysis"]["bootstrap"],
        max_gold_failures=config["listening"]["max_gold_failures"],
    script:
        "../scripts/mos.py"


# With ratings: do the predicted MOS, D_STFT and the objective metrics track the listeners?
rule agreement:
    input:
        summary="results/summary.csv",
        mos="results/analysis/mos.csv",
        code=code("agreement.py"),
    output:
        systems=report(
            "results/analysis/agreement_systems.csv",
            caption="../report/agreement.rst",
            category="Quality",
        ),
        correlations=report(
            "results/analysis/agreement_correlations.csv",
            caption="../report/agreement.rst",
            category="Quality",
        ),
        figure=report(
            multiext("results/figures/agreement", ".png", ".svg"),
            caption="../report/agreement.rst",
            category="Quality",
        ),
    log:
        "logs/analysis/agreement.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        resamples=config["analysis"]["bootstrap"],
    script:
        "../scripts/agreement.py"


rule analysis:
    input:
        summary="results/summary.csv",
        mos=optional_mos,
        ground_truth=optional_ground_truth,
        code=code("analysis.py"),
        paper=PAPER_TABLES,
    output:
        pareto="results/analysis/pareto.csv",
        hypervolume="results/analysis/hypervolume.json",
        table1=multiext("results/analysis/table1", ".csv", ".md"),
        table1_html=report(
            "results/analysis/table1.html",
            caption="../report/table1.rst",
            category="Tables",
        ),
        table2=multiext("results/analysis/table2", ".csv", ".md"),
        table2_html=report(
            "results/analysis/table2.html",
            caption="../report/table2.rst",
            category="Tables",
        ),
    log:
        "logs/analysis/analysis.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        quality=config["analysis"]["quality"],
        costs=config["analysis"]["costs"],
    script:
        "../scripts/analysis.py"


rule pareto_figure:
    input:
        pareto="results/analysis/pareto.csv",
        hypervolume="results/analysis/hypervolume.json",
        code=code("pareto_figure.py"),
    output:
        svg=report(
            "results/figures/pareto.svg",
            caption="../report/pareto.rst",
            category="Pareto fronts",
        ),
        png="results/figures/pareto.png",
    log:
        "logs/pareto_figure.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        costs=config["analysis"]["costs"],
        overlay_paper=config["analysis"]["overlay_paper"],
    script:
        "../scripts/pareto_figure.py"


rule audio_examples:
    input:
        generated=per_job("results/generated/{model}_{size}.npz"),
        code=code("audio_examples.py"),
    output:
        report(
            "results/report/audio_examples.html",
            caption="../report/audio_examples.rst",
            category="Listening examples",
        ),
    log:
        "logs/analysis/audio_examples.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        jobs=JOBS,
        examples=config["analysis"]["audio_examples"],
        sample_rate=config["features"]["sample_rate"],
    script:
        "../scripts/audio_examples.py"


rule paper_reference:
    """The paper's Pareto analysis from its Tables 1 and 2 alone: no training needed."""
    input:
        paper=PAPER_TABLES,
        code=code("paper_reference.py"),
    output:
        pareto="results/paper_reference/pareto.csv",
        hypervolume="results/paper_reference/hypervolume.json",
        svg=report(
            "results/paper_reference/figure2.svg",
            caption="../report/paper_reference.rst",
            category="Pareto fronts",
        ),
        png="results/paper_reference/figure2.png",
    log:
        "logs/analysis/paper_reference.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    script:
        "../scripts/paper_reference.py"


rule loss_figures:
    input:
        losses=per_job_sorted("results/train/{model}_{size}_losses.jsonl", TRAINED),
        code=code("loss_figures.py"),
    output:
        models=[
            report(
                path, caption="../report/loss_model.rst", category="Training losses"
            )
            for path in per_job_sorted(
                "results/figures/losses/{model}_{size}.png", TRAINED
            )
        ],
        png=report(
            "results/figures/losses.png",
            caption="../report/losses.rst",
            category="Training losses",
        ),
        svg="results/figures/losses.svg",
    log:
        "logs/loss_figures.log",
    conda:
        "../../envs/vocoder-energy.yaml"
    params:
        # Sorted, as the inputs: reordering the models must not redraw the figures.
        jobs=sorted(TRAINED),
    script:
        "../scripts/loss_figures.py"
