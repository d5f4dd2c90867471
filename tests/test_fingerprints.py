"""Code fingerprints: blind to comments, docstrings and formatting; seeing every code change; following
the real imports of each workflow script."""

import os
import shutil
from pathlib import Path

import pytest

from vocoder_energy.core.fingerprints import FingerprintStore, import_closure, normalised_tree, source_fingerprint

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "vocoder_energy"
SCRIPTS = ROOT / "workflow" / "scripts"

ORIGINAL = '''"""A module."""
import math


def area(radius):
    """Circle area."""
    return math.pi * radius**2
'''


@pytest.mark.parametrize(
    "edited",
    [
        ORIGINAL + "# a comment at the end\n",
        ORIGINAL.replace('"""A module."""', '"""A reworded module docstring."""'),
        ORIGINAL.replace('    """Circle area."""\n', ""),
        ORIGINAL.replace("math.pi * radius**2", "math.pi * radius ** 2  # pi r squared"),
        ORIGINAL.replace("def area(radius):", "def area(\n    radius,\n):"),
    ],
    ids=["comment", "module-docstring", "function-docstring", "spacing-and-inline-comment", "reformatted"],
)
def test_comments_docstrings_and_formatting_leave_the_fingerprint(edited):
    assert normalised_tree(edited) == normalised_tree(ORIGINAL)


@pytest.mark.parametrize(
    "edited",
    [
        ORIGINAL.replace("radius**2", "radius**3"),
        ORIGINAL.replace("math.pi", "math.tau"),
        ORIGINAL + "\nSCALE = 2\n",
        ORIGINAL.replace("def area(radius):", "def area(radius, unused=None):"),
    ],
    ids=["operator", "constant", "new-statement", "signature"],
)
def test_any_code_change_moves_the_fingerprint(edited):
    assert normalised_tree(edited) != normalised_tree(ORIGINAL)


def closure_of(script: str) -> set[str]:
    return {str(path.relative_to(ROOT)) for path in import_closure([SCRIPTS / script], PACKAGE)}


def test_closures_follow_the_real_imports_of_each_script():
    # pareto_figure.py imports analysis.runs, which imports plots (a hand-kept list once missed it).
    pareto = closure_of("pareto_figure.py")
    assert {
        "workflow/scripts/pareto_figure.py",
        "src/vocoder_energy/analysis/runs.py",
        "src/vocoder_energy/analysis/plots.py",
        "src/vocoder_energy/analysis/pareto.py",
        "src/vocoder_energy/__init__.py",
        "src/vocoder_energy/analysis/__init__.py",
    } <= pareto
    # Generation needs the models and the generator file format, never the training stack.
    generate = closure_of("generate.py")
    assert "src/vocoder_energy/models/generator_files.py" in generate
    assert not any(path.startswith("src/vocoder_energy/training/") for path in generate), sorted(generate)
    # Quality does not import any model; training imports only the D_STFT it validates with.
    assert not any("/models/" in path for path in closure_of("quality.py"))
    assert "src/vocoder_energy/evaluation/spectral_distance.py" in closure_of("train.py")  # validation's D_STFT
    assert "src/vocoder_energy/evaluation/metrics.py" not in closure_of("train.py")  # a new metric retrains nothing
    # Imports inside functions count (config_checks imports the models lazily).
    assert "src/vocoder_energy/models/__init__.py" in {
        str(path.relative_to(ROOT)) for path in import_closure([PACKAGE / "core" / "config_checks.py"], PACKAGE)
    }


def test_every_script_closure_stays_inside_existing_files():
    for script in SCRIPTS.glob("*.py"):
        closure = import_closure([script], PACKAGE)
        assert script.resolve() in closure
        assert all(path.is_file() for path in closure)


def test_the_store_rewrites_a_fingerprint_file_only_when_the_code_changes(tmp_path, monkeypatch):
    package = tmp_path / "src" / "vocoder_energy"
    shutil.copytree(PACKAGE / "core", package / "core")
    (package / "__init__.py").write_text("")
    module = package / "core" / "intervals.py"
    store = FingerprintStore(tmp_path / "fingerprints", tmp_path, package_dir=package)
    monkeypatch.chdir(tmp_path)
    target = Path(store.file_for(module))
    first = target.read_text()
    os.utime(target, (1_000_000, 1_000_000))

    module.write_text(module.read_text() + "\n# a reworded thought\n")
    FingerprintStore(tmp_path / "fingerprints", tmp_path, package_dir=package).file_for(module)
    assert target.stat().st_mtime == 1_000_000 and target.read_text() == first

    module.write_text(module.read_text() + "\nEXTRA = 1\n")
    FingerprintStore(tmp_path / "fingerprints", tmp_path, package_dir=package).file_for(module)
    assert target.read_text() != first and target.read_text().strip() == source_fingerprint(module)
    assert str(target).endswith("fingerprints/src/vocoder_energy/core/intervals.py.fingerprint")


def test_a_closure_sees_an_import_added_in_the_same_process(tmp_path):
    """Parsed imports are cached per file version (the workflow asks for ~40 closures), never past an edit."""
    package = tmp_path / "vocoder_energy"
    package.mkdir()
    for name in ("__init__", "a", "b", "c"):
        (package / f"{name}.py").write_text("")
    script = tmp_path / "script.py"
    script.write_text("from vocoder_energy import a\n")
    (package / "a.py").write_text("from vocoder_energy import b\n")
    assert sorted(p.name for p in import_closure([script], package)) == ["__init__.py", "a.py", "b.py", "script.py"]
    (package / "a.py").write_text("from vocoder_energy import b, c\n")
    closure = sorted(p.name for p in import_closure([script], package))
    assert closure == ["__init__.py", "a.py", "b.py", "c.py", "script.py"]
