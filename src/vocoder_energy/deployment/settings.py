"""A deployment setting (how one model is run) and the sweep the ``deployment:`` config section asks for.

The paper's setting, ``PAPER``, is every probe clip in one fp32 call, eager, on the job's threads, at the
GPU's power limit as found: the default cost job measures it, and every sweep measures it again as its
baseline in the same process, so a ratio never compares two sittings.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

PRECISIONS = ("fp32", "bf16", "fp16")
COMPILE_MODES = ("eager", "compiled", "cuda_graphs")  # cuda_graphs: torch.compile(mode="reduce-overhead")
ALL = "all"  # clips_per_call: the probe's clips in one call; threads: the job's; power limit: as found
AUTO = "auto"  # clips_per_call: 1, 2, 4, ... up to the probe's clips (those that fit in memory are measured)
DEFAULT_LIMIT = "default"


@dataclass(frozen=True)
class Setting:
    precision: str = "fp32"
    clips_per_call: int | None = None  # None: all of the probe's clips in one call
    compile: str = "eager"
    threads: int | None = None  # None: the job's threads
    power_limit_watts: float | None = None  # None: the GPU's limit as found

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"deployment.precision: {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.compile not in COMPILE_MODES:
            raise ValueError(f"deployment.compile: {self.compile!r} is not one of {', '.join(COMPILE_MODES)}")
        for key in ("clips_per_call", "threads", "power_limit_watts"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise ValueError(f"deployment.{key}: {value!r} must be positive")

    @property
    def name(self) -> str:
        """A short, file-safe name, e.g. ``fp32`` (the paper's), ``bf16-b4-compiled-t1-250W``."""
        parts = [self.precision]
        if self.clips_per_call is not None:
            parts.append(f"b{self.clips_per_call}")
        if self.compile != "eager":
            parts.append(self.compile)
        if self.threads is not None:
            parts.append(f"t{self.threads}")
        if self.power_limit_watts is not None:
            parts.append(f"{self.power_limit_watts:g}W")
        return "-".join(parts)

    @property
    def label(self) -> str:
        """What a reader sees in a table or a figure."""
        parts = [self.precision]
        parts.append("all clips per call" if self.clips_per_call is None else f"{self.clips_per_call} per call")
        if self.compile != "eager":
            parts.append(self.compile.replace("_", " "))
        if self.threads is not None:
            parts.append(f"{self.threads} thread{'s' if self.threads > 1 else ''}")
        if self.power_limit_watts is not None:
            parts.append(f"{self.power_limit_watts:g} W limit")
        return ", ".join(parts)

    @property
    def is_paper(self) -> bool:
        return self == PAPER

    @property
    def changes_audio(self) -> bool:
        """Only precision changes what comes out (batching and compiling reorder float sums, within 1e-5)."""
        return self.precision != "fp32"

    def as_dict(self) -> dict:
        return asdict(self) | {"name": self.name, "label": self.label}

    @classmethod
    def from_dict(cls, record: dict) -> Setting:
        """The setting ``as_dict`` wrote (its name and label are derived, not read)."""
        return cls(**{key: value for key, value in record.items() if key not in ("name", "label")})


PAPER = Setting()


def _clip_counts(values: list, probe_clips: int) -> list[int | None]:
    counts: list[int | None] = []
    for value in values:
        if value == ALL:
            counts.append(None)
        elif value == AUTO:
            size = 1
            while size < probe_clips:
                counts.append(size)
                size *= 2
            counts.append(None)  # the last doubling is all of them
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            if value > probe_clips:
                raise ValueError(
                    f"deployment.clips_per_call: {value} is more than the probe's {probe_clips} clips "
                    "(measurement.clips)"
                )
            counts.append(None if value == probe_clips else value)
        else:
            raise ValueError(f"deployment.clips_per_call: {value!r} is not a positive whole number, all or auto")
    return list(dict.fromkeys(counts))


def _optional(values: list, key: str, keep: str) -> list:
    out = []
    for value in values:
        if value == keep:
            out.append(None)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            out.append(int(value) if key == "threads" else float(value))
        else:
            raise ValueError(f"deployment.{key}: {value!r} is not a positive number or {keep}")
    return list(dict.fromkeys(out))


def sweep(section: dict, probe_clips: int) -> list[Setting]:
    """Every combination the section asks for, the paper's setting first (it is always measured)."""
    combos = itertools.product(
        list(dict.fromkeys(section.get("precision", ["fp32"]))),
        _clip_counts(list(section.get("clips_per_call", [ALL])), probe_clips),
        list(dict.fromkeys(section.get("compile", ["eager"]))),
        _optional(list(section.get("threads", [ALL])), "threads", ALL),
        _optional(list(section.get("power_limit_watts", [DEFAULT_LIMIT])), "power_limit_watts", DEFAULT_LIMIT),
    )
    settings = [Setting(*combo) for combo in combos]
    return list(dict.fromkeys([PAPER, *settings]))


def swept_models(section: dict, jobs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (model, size) jobs the section names as ``model_size``; an unknown one is a config error."""
    known = {f"{model}_{size}": (model, size) for model, size in jobs}
    chosen = []
    for name in section.get("models", []):
        if name not in known:
            raise ValueError(
                f"deployment.models: {name!r} is not a configured model; configured: {', '.join(known) or 'none'}"
            )
        chosen.append(known[name])
    return chosen
