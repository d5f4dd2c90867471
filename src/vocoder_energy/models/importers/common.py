"""What every importer shares: the key table, its comparison with a file, the conversion, the errors.

An importer describes the original's generator state dict as a table of ``Entry`` rows (their key, its
shape, our key or None with the reason it is dropped), generated from a configuration that it infers from
a few shapes of the file. ``Importer.run`` then checks the file against the table (every key accounted
for, every shape equal), converts the tensors, and checks the result against our model built on the meta
device (same keys, same shapes), so that ``load_state_dict(strict=True)`` cannot fail afterwards.

Weight norm: the originals write ``<m>.weight_g`` / ``<m>.weight_v`` (legacy ``torch.nn.utils.weight_norm``,
dim 0); ours is a parametrization, ``<m>.parametrizations.weight.original0`` (g) / ``original1`` (v), with
the same shapes and the same formula. A file whose weight norm was removed (``<m>.weight`` only) is accepted
too: v = weight and g = its norm over all dimensions but 0 (the same weight, exactly).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from vocoder_energy.core.errors import InputError
from vocoder_energy.core.files import safe_torch_load

G, V = "parametrizations.weight.original0", "parametrizations.weight.original1"
SHOW = 8  # keys listed in an error message before "... and N more"


class CheckpointImportError(InputError):
    """A released checkpoint that does not fit the format it was given as (the message names the file)."""


class UnrepresentableError(CheckpointImportError):
    """The checkpoint is what the format says, but our family cannot represent its configuration exactly."""


@dataclass
class ImportedModel:
    """A released checkpoint as one of our families.

    ``build_vocoder(family, size, **hyperparameters)`` builds the model; ``state_dict`` loads into its
    ``generator`` with ``strict=True`` (the same form ``generator_files.save_generator`` writes).
    ``dropped``: their keys (or container entries) knowingly left out -> why. ``notes``: facts taken from
    the published configuration rather than from the file, and other caveats.
    """

    family: str
    size: str
    hyperparameters: dict[str, Any]
    state_dict: OrderedDict[str, torch.Tensor]
    dropped: dict[str, str]
    source: dict[str, str]
    config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Entry:
    """One key of the original's state dict: its shape and our key (None: dropped, ``why`` says why)."""

    theirs: str
    shape: tuple[int, ...]
    ours: str | None
    why: str = ""
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None


def wn(theirs: str, ours: str, v_shape: tuple[int, ...], bias: bool = True) -> list[Entry]:
    """A weight-normed layer (bias, weight_g, weight_v), the bias of size ``v_shape[0]``... of conv outputs.

    ``v_shape`` is the weight's shape; g is [d0, 1, ...]; the bias has the layer's output channels, which for
    a transposed convolution is ``v_shape[1]`` (see ``wn_transposed``).
    """
    rows = [Entry(f"{theirs}.bias", (v_shape[0],), f"{ours}.bias")] if bias else []
    g_shape = (v_shape[0],) + (1,) * (len(v_shape) - 1)
    return rows + [
        Entry(f"{theirs}.weight_g", g_shape, f"{ours}.{G}"),
        Entry(f"{theirs}.weight_v", v_shape, f"{ours}.{V}"),
    ]


def wn_transposed(theirs: str, ours: str, v_shape: tuple[int, ...]) -> list[Entry]:
    """A weight-normed transposed convolution: weight [C_in, C_out, k...], bias [C_out], g [C_in, 1, ...]."""
    rows = wn(theirs, ours, v_shape)
    rows[0] = Entry(f"{theirs}.bias", (v_shape[1],), f"{ours}.bias")
    return rows


def plain(theirs: str, ours: str, weight: tuple[int, ...], bias: tuple[int, ...] | None = None) -> list[Entry]:
    """A layer without weight norm: weight (and bias)."""
    rows = [Entry(f"{theirs}.weight", weight, f"{ours}.weight")]
    return rows + ([Entry(f"{theirs}.bias", bias, f"{ours}.bias")] if bias is not None else [])


def shape_of(sd: dict, prefix: str) -> tuple[int, ...] | None:
    """The weight shape of layer ``prefix`` (from weight_v, or weight when weight norm was removed)."""
    for suffix in ("weight_v", "weight"):
        if f"{prefix}.{suffix}" in sd:
            return tuple(sd[f"{prefix}.{suffix}"].shape)
    return None


def count(sd: dict, pattern: str) -> int:
    """How many consecutive i from 0 have some key starting with ``pattern.format(i)``."""
    n = 0
    while any(k.startswith(pattern.format(n)) for k in sd):
        n += 1
    return n


def listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOW])
    return shown + (f" ... and {len(keys) - SHOW} more" if len(keys) > SHOW else "")


def describe(config: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items() if not k.startswith("_"))


class Importer:
    """One original format. Subclasses set the class attributes and implement ``unwrap``, ``infer``,
    ``table`` and ``hyperparameters``; ``anchor`` is a key prefix that only this format's state dict has."""

    format: ClassVar[str]
    family: ClassVar[str]
    size: ClassVar[str] = "S"  # the preset our hyperparameters override (every architectural one is given)
    project: ClassVar[str]
    container: ClassVar[str]  # the container, in words (for messages)
    container_key: ClassVar[str]  # the container entry that holds the state dict ("": a bare state dict)
    anchor: ClassVar[str]
    anchor_priority: ClassVar[int] = 0  # guessing a file's format tries higher first (then registry order)
    # Import options this format accepts (option -> its accepted values), applied by ``apply_options``.
    options: ClassVar[dict[str, tuple[Any, ...]]] = {}

    # ---------------------------------------------------------------- per format
    def load(self, path: Path) -> Any:
        return safe_torch_load(path, path)

    def unwrap(self, obj: Any, name: str) -> tuple[dict, dict[str, str]]:
        """The generator's state dict inside the container, and the container entries dropped (-> why)."""
        raise NotImplementedError

    def infer(self, sd: dict, name: str) -> dict[str, Any]:
        """The configuration that the shapes of ``sd`` (and the published configuration) give."""
        raise NotImplementedError

    def table(self, config: dict[str, Any]) -> list[Entry]:
        raise NotImplementedError

    def hyperparameters(self, config: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def representable(self, config: dict[str, Any], name: str) -> None:
        """Raise ``UnrepresentableError`` when our family cannot hold this configuration exactly."""

    def notes(self, config: dict[str, Any]) -> list[str]:
        return []

    def apply_options(self, hyperparameters: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        """The hyperparameters with the chosen import options (already checked against ``options``)."""
        return hyperparameters

    def check_options(self, options: Any, name: str) -> dict[str, Any]:
        """``options`` as a dict, every option and value one that ``self.options`` accepts."""
        accepted = "; ".join(f"{k}: one of {', '.join(map(repr, v))}" for k, v in self.options.items()) or "none"
        if options is None:
            return {}
        if not isinstance(options, dict):
            raise self.error(name, f"import options must be a dict, got {options!r}; accepted: {accepted}")
        unknown = sorted(str(k) for k in options if k not in self.options)
        if unknown:
            raise self.error(
                name, f"unknown import option(s) {', '.join(unknown)} for format {self.format!r}; accepted: {accepted}"
            )
        for key, value in options.items():
            # The same type too: True is not 1, 6.0 is not 6.
            if not any(type(value) is type(v) and value == v for v in self.options[key]):
                raise self.error(
                    name,
                    f"import option {key}={value!r} is not accepted for format {self.format!r}; accepted: {accepted}",
                )
        return dict(options)

    # ---------------------------------------------------------------- helpers
    def error(self, name: str, message: str) -> CheckpointImportError:
        return CheckpointImportError(f"{name}: {message}")

    def dict_container(self, obj: Any, name: str, droppable: dict[str, str]) -> tuple[dict, dict[str, str]]:
        """``obj[container_key]`` of a dict container whose other entries are all in ``droppable`` (-> why)."""
        key = self.container_key
        guess = identify(obj)
        if not isinstance(obj, dict) or key not in obj or (guess and guess != self.format):
            raise self.error(name, self.wrong_container(obj))
        unknown = sorted(str(k) for k in obj if k != key and k not in droppable)
        if unknown:
            raise self.error(
                name, f"unexpected container entries {listing(unknown)}; a {self.project} file is {self.container}"
            )
        return obj[key], {f"[{k!r}]": droppable[k] for k in obj if k != key}

    def wrong_container(self, obj: Any) -> str:
        guess = identify(obj)
        what = f"a {type(obj).__name__}" + (
            f" with the entries {listing([str(k) for k in obj])}" if isinstance(obj, dict) else ""
        )
        hint = (
            f"; it looks like a {guess} file, import it with format {guess!r}" if guess and guess != self.format else ""
        )
        return f"not a {self.project} checkpoint: expected {self.container}, found {what}{hint}"

    def require_anchor(self, sd: dict, name: str) -> None:
        guess = identify_state_dict(sd)
        if guess and guess != self.format:
            raise self.error(
                name,
                f"not a {self.project} generator: it looks like a {guess} ({registry()[guess].family}) state dict, "
                f"import it with format {guess!r}",
            )
        if not any(k.startswith(self.anchor) for k in sd):
            raise self.error(name, f"not a {self.project} generator: no {self.anchor}* key (keys: {listing(list(sd))})")

    # ---------------------------------------------------------------- the driver
    def run(self, path: str | Path, options: dict[str, Any] | None = None) -> ImportedModel:
        path = Path(path)
        name = str(path)
        options = self.check_options(options, name)
        if not path.is_file():
            raise CheckpointImportError(f"{name}: no such file")
        obj = self.load(path)
        sd, dropped = self.unwrap(obj, name)
        if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
            raise self.error(
                name, f"the generator entry is not a state dict of tensors; a {self.project} file is {self.container}"
            )
        sd = dict(sd)
        self.require_anchor(sd, name)
        config = self.infer(sd, name)
        table = self.table(config)
        sd, folded = fold_removed_weight_norm(sd, table)
        check_keys(name, self.project, sd, table, config)
        self.representable(config, name)
        state: OrderedDict[str, torch.Tensor] = OrderedDict()
        for entry in table:
            tensor = sd[entry.theirs]
            if entry.ours is None:
                dropped[entry.theirs] = entry.why
                continue
            if entry.transform is not None:
                tensor = entry.transform(tensor)
            state[entry.ours] = (
                tensor.detach().to(torch.float32 if tensor.is_floating_point() else tensor.dtype).clone()
            )
        hyperparameters = self.apply_options(self.hyperparameters(config), options)
        check_against_model(name, self.family, self.size, hyperparameters, state)
        notes = self.notes(config)
        if options:
            notes.append("import options: " + ", ".join(f"{k}={v!r}" for k, v in options.items()))
        if folded:
            notes.append(
                f"weight norm had been removed in the file ({folded} layers): g recomputed as the norm of the weight"
            )
        if any(t.dtype != torch.float32 and t.is_floating_point() for t in sd.values()):
            notes.append("stored in reduced precision; converted to float32")
        return ImportedModel(
            family=self.family,
            size=self.size,
            hyperparameters=hyperparameters,
            state_dict=state,
            dropped=dropped,
            source={"format": self.format, "file": name, "project": self.project},
            config=config,
            notes=notes,
        )


def fold_removed_weight_norm(sd: dict, table: list[Entry]) -> tuple[dict, int]:
    """Replace ``<m>.weight`` by g and v where the table expects weight norm and the file has none."""
    folded = 0
    for entry in table:
        if not entry.theirs.endswith(".weight_g"):
            continue
        prefix = entry.theirs[: -len(".weight_g")]
        if prefix + ".weight" in sd and prefix + ".weight_g" not in sd and prefix + ".weight_v" not in sd:
            weight = sd.pop(prefix + ".weight")
            dims = tuple(range(1, weight.dim()))
            sd[prefix + ".weight_g"] = torch.linalg.vector_norm(weight.float(), dim=dims, keepdim=True)
            sd[prefix + ".weight_v"] = weight
            folded += 1
    return sd, folded


def check_keys(name: str, project: str, sd: dict, table: list[Entry], config: dict) -> None:
    expected = {e.theirs: e.shape for e in table}
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {listing(unexpected)}")
        raise CheckpointImportError(
            f"{name}: not the {project} generator that its shapes describe ({describe(config)}): " + "; ".join(parts)
        )
    wrong = [f"{k} {list(sd[k].shape)} (expected {list(s)})" for k, s in expected.items() if tuple(sd[k].shape) != s]
    if wrong:
        raise CheckpointImportError(
            f"{name}: shapes do not match the {project} generator of {describe(config)}: {listing(wrong)}"
        )


def check_against_model(name: str, family: str, size: str, hyperparameters: dict, state: dict) -> None:
    """Our model, built on the meta device, has exactly these keys and shapes (else strict loading would fail)."""
    from vocoder_energy.models import build_vocoder

    with torch.device("meta"):
        model = build_vocoder(family, size, **hyperparameters)
    ours = {k: tuple(v.shape) for k, v in model.generator.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in state.items()}
    if ours != theirs:
        missing = [k for k in ours if k not in theirs]
        extra = [k for k in theirs if k not in ours]
        wrong = [f"{k} {theirs[k]} vs ours {ours[k]}" for k in ours if k in theirs and ours[k] != theirs[k]]
        raise UnrepresentableError(
            f"{name}: the converted weights do not fit our {family} model (importer bug or unsupported layout): "
            f"ours lacks {listing(extra)}; not provided {listing(missing)}; shapes {listing(wrong)}"
        )


def is_linspace(values: list[float], rel: float = 1e-5) -> bool:
    if len(values) < 2:
        return False
    start, end, n = values[0], values[-1], len(values)
    return all(
        math.isclose(v, start + (end - start) * i / (n - 1), rel_tol=rel, abs_tol=1e-12) for i, v in enumerate(values)
    )


def registry() -> dict[str, Importer]:
    """The package's importers by format (imported when first needed: the package imports this module)."""
    from vocoder_energy.models.importers import FORMATS

    return FORMATS


def guessing_order() -> list[Importer]:
    """The importers in the order a file's format is guessed: most specific anchor first."""
    return sorted(registry().values(), key=lambda importer: -importer.anchor_priority)


def identify_state_dict(sd: dict) -> str | None:
    for importer in guessing_order():
        if any(str(k).startswith(importer.anchor) for k in sd):
            return importer.format
    return None


def identify(obj: Any) -> str | None:
    """The format a loaded checkpoint most likely is (container, then state-dict anchors), or None."""
    if not isinstance(obj, dict):
        state = getattr(obj, "__dict__", {})
        if "_modules" in state:
            return "nvidia_waveglow"
        return None
    for importer in guessing_order():
        fmt, key = importer.format, importer.container_key
        inner = obj.get(key) if key else obj
        if isinstance(inner, dict) and identify_state_dict(inner) == fmt:
            return fmt
        if fmt == "nvidia_waveglow" and key in obj and "_modules" in getattr(obj[key], "__dict__", {}):
            return fmt
    if {"mpd", "optim_g"} <= set(obj):
        return "bigvgan" if "mrd" in obj else "jik876"
    return identify_state_dict(obj)
