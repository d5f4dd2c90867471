"""Vocoder families and the one entry point that builds them.

A family is a ``Vocoder`` subclass with ``family`` and S/M/L ``presets`` (docs/extending.md has the
contract). The built-in ones (the paper's six, then Vocos and BigVGAN) are listed in ``REGISTRY``; other
packages add theirs without a fork:

* an installed package declares them under the entry-point group ``vocoder_energy.families``
  (name = family, value = ``module:Class``);
* a config names a class of a module it can import, under ``families:`` (``add_families``).
"""

from __future__ import annotations

import functools
import inspect
import re
import warnings
from collections.abc import Mapping
from importlib import import_module, metadata, util
from pathlib import Path
from typing import Any

from vocoder_energy.models.base import Vocoder

SIZES = ("S", "M", "L")
ENTRY_POINT_GROUP = "vocoder_energy.families"
# Family names appear in file names, wildcards and "{family}_{size}" system names.
FAMILY_NAME = re.compile(r"[a-z][a-z0-9]*")

# family -> "module:Class", imported lazily so that building one family never imports the others.
REGISTRY: dict[str, str] = {
    "melgan": "vocoder_energy.models.melgan:MelGAN",
    "hifigan": "vocoder_energy.models.hifigan:HiFiGAN",
    "waveglow": "vocoder_energy.models.waveglow:WaveGlow",
    "waveflow": "vocoder_energy.models.waveflow:WaveFlow",
    "wavegrad": "vocoder_energy.models.wavegrad:WaveGrad",
    "diffwave": "vocoder_energy.models.diffwave:DiffWave",
    # Not in the paper (2026 additions): families seven and eight.
    "vocos": "vocoder_energy.models.vocos:Vocos",
    "bigvgan": "vocoder_energy.models.bigvgan:BigVGAN",
}

# Families a config declared in this process (``families:``), with the key that declared each.
_declared: dict[str, tuple[str, str]] = {}


@functools.cache
def installed_families() -> dict[str, tuple[str, str]]:
    """Families of installed packages: name -> ("module:Class", where it was declared)."""
    found = {}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {entry.name!r} of the installed package {entry.dist.name if entry.dist else '?'}"
        try:
            _check_new_family(entry.name, where)
            _check_target(entry.value, where)
        except ValueError as err:  # one broken package must not stop configs that do not use it
            warnings.warn(f"{err}; that family is ignored", stacklevel=2)
            continue
        found[entry.name] = (entry.value, where)
    return found


def add_families(declared: Mapping[str, str], key: str = "families") -> None:
    """Make the families a config declares (name -> ``module:Class``) buildable in this process."""
    for name, target in declared.items():
        where = f"{key}.{name}"
        _check_new_family(name, where)
        if name in installed_families() and installed_families()[name][0] != target:
            owner = installed_families()[name][1]
            raise ValueError(f"{where}: the {owner} already names {name!r}; choose another name")
        _check_target(target, where)
        _declared[name] = (target, where)


def _check_target(target: str, where: str) -> None:
    if not re.fullmatch(r"[\w.]+:[\w.]+", target):
        raise ValueError(f"{where}: {target!r} is not 'module:Class' (e.g. mypackage.vocoder:MyVocoder)")


def _check_new_family(name: str, where: str) -> None:
    if name in REGISTRY:
        raise ValueError(f"{where}: {name!r} is a built-in family; give the new family another name")
    if not FAMILY_NAME.fullmatch(name):
        raise ValueError(f"{where}: a family name is lower-case letters and digits, from a letter; got {name!r}")


def _others() -> dict[str, tuple[str, str]]:
    """Installed and declared families: name -> ("module:Class", where it was declared)."""
    return {**installed_families(), **_declared}


def families() -> dict[str, str]:
    """Every family this process can build: built-in, installed, declared by the config."""
    return REGISTRY | {name: target for name, (target, _) in _others().items()}


def family_target(family: str) -> str:
    """``module:Class`` of ``family`` (a clear error naming the known ones when there is none)."""
    try:
        return families()[family]
    except KeyError:
        known = ", ".join(families())
        raise ValueError(
            f"models: unknown vocoder family {family!r}; known: {known} (a new family: declare it under "
            "families: or install a package that provides it, docs/extending.md)"
        ) from None


def _where(family: str) -> str:
    return _others()[family][1] if family in _others() else f"models.{family}"


def vocoder_class(family: str) -> type[Vocoder]:
    module_name, class_name = family_target(family).split(":")
    try:
        module = import_module(module_name)
    except Exception as err:  # a plugin's import may fail in any way; name it, not a traceback
        raise ValueError(f"{_where(family)}: cannot import {module_name} ({type(err).__name__}: {err})") from None
    cls = functools.reduce(lambda owner, name: getattr(owner, name, None), class_name.split("."), module)
    if cls is None:
        raise ValueError(f"{_where(family)}: {module_name} has no class {class_name}")
    if not (isinstance(cls, type) and issubclass(cls, Vocoder)):
        raise ValueError(f"{_where(family)}: {module_name}:{class_name} is not a subclass of models.Vocoder")
    if getattr(cls, "family", None) != family:
        raise ValueError(
            f"{_where(family)}: {module_name}:{class_name} sets family = {getattr(cls, 'family', None)!r}; "
            f"the name it is declared under must be the same ({family!r})"
        )
    if not isinstance(getattr(cls, "presets", None), dict) or not cls.presets:
        raise ValueError(f"{_where(family)}: {module_name}:{class_name} has no presets (size -> hyperparameters)")
    return cls


def family_file(family: str, package_dir: str | Path) -> Path:
    """The file of ``family``'s module (its code is part of every job of the family): a built-in one in
    ``package_dir`` (the workflow's own sources), another wherever Python finds it."""
    module_name = family_target(family).split(":")[0]
    if family in REGISTRY:
        return Path(package_dir, *module_name.split(".")[1:]).with_suffix(".py")
    spec = util.find_spec(module_name)
    if spec is None or not spec.origin:
        raise ValueError(f"{_where(family)}: cannot find the module {module_name}")
    return Path(spec.origin)


def build_vocoder(family: str, size: str, **overrides: Any) -> Vocoder:
    """The vocoder ``family`` at paper size ``size`` (S, M or L), with hyperparameter ``overrides``."""
    cls = check_hyperparameters(family, size, overrides)
    return cls(**{**cls.presets[size], **overrides})


def check_hyperparameters(family: str, size: str, overrides: dict[str, Any]) -> type[Vocoder]:
    """The family's class, after checking that ``size`` and every override name exist (clear errors)."""
    cls = vocoder_class(family)
    if size not in cls.presets:
        raise ValueError(f"models.{family}: unknown size {size!r}; known: {', '.join(cls.presets)}")
    accepted = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise ValueError(
            f"models.{family}.{size}: unknown hyperparameter(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}"
        )
    return cls


def check_inference_options(family: str, options: dict[str, Any]) -> None:
    """Options that change only how audio is generated, never the trained weights."""
    cls = vocoder_class(family)
    unknown = sorted(set(options) - set(cls.inference_options))
    if unknown:
        allowed = ", ".join(cls.inference_options) or "none"
        raise ValueError(f"inference.{family}: {', '.join(unknown)} cannot change at inference; allowed: {allowed}")


__all__ = [
    "ENTRY_POINT_GROUP",
    "REGISTRY",
    "SIZES",
    "Vocoder",
    "add_families",
    "build_vocoder",
    "check_hyperparameters",
    "check_inference_options",
    "families",
    "family_file",
    "family_target",
    "installed_families",
    "vocoder_class",
]
