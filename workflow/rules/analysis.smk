rule summary:
    input:
        train=per_job("results/train/{model}_{size}.json"),
        quality=per_job("results/quality/{model}_{size}.json"),
        cost=per_job("results/cost/{model}_{size}.json"),
        code=code("summary.py", "summary", "pareto", "carbon"),
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


rule pareto_figure:
    input:
        summary="results/summary.csv",
        code=code("pareto_figure.py", "plots", "pareto", "summary"),
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
    script:
        "../scripts/pareto_figure.py"
