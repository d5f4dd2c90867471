"""A restricted reader for torch files that hold pickled ``nn.Module`` objects (NVIDIA's published WaveGlow).

``torch.load(weights_only=True)`` refuses such a file, and ``weights_only=False`` would import and run
whatever the pickle names. This reader runs nothing: its ``find_class`` admits only

* what tensors and plain containers need: ``torch._utils._rebuild_tensor_v2``, ``_rebuild_parameter``
  (reimplemented here on plain tensors, not torch's functions), the typed storage names
  (``torch.FloatStorage``, ...), ``collections.OrderedDict``, ``builtins.set`` / ``frozenset``;
* the classes of the module tree, given by the caller (e.g. ``glow.WaveGlow``, ``torch.nn.modules.conv.Conv1d``,
  ``torch.nn.utils.weight_norm.WeightNorm``), each replaced by a ``Record`` stand-in that only keeps the
  pickled ``__dict__`` (``_parameters``, ``_buffers``, ``_modules``, ...) and imports no original code.

Any other class or function is refused with ``UnsafePickleError`` naming it, before anything is called.
``module_state_dict`` then rebuilds the state dict from the recorded tree, in ``nn.Module.state_dict`` order.

Supported containers: torch's zip serialization (torch >= 1.6 default: ``<archive>/data.pkl`` plus
``<archive>/data/<key>`` storages, persistent ids ``('storage', type, key, location, numel)``) and the
legacy pre-1.6 stream (magic number, protocol, sys info, the pickle with persistent ids
``('storage', type, key, location, numel, view)`` and ``('module', class, file, source)``, the storage
keys, then each storage as int64 element count + raw little-endian bytes). Not supported (refused with a
clear error): the pre-0.4 tar format, big-endian files, and pickles that rebuild tensors any other way
(``_rebuild_tensor`` v1, sparse or quantized tensors).
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from vocoder_energy.core.files import UnsafeFileError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class UnsafePickleError(UnsafeFileError, pickle.UnpicklingError):
    """The pickle names a class or function outside the allow-list (nothing of it was executed)."""


class Record:
    """Stand-in for a pickled object of an allowed class: keeps its state, runs no original code."""

    qualified_name = "?"

    def __init__(self, *args: Any, **kwargs: Any):
        if args or kwargs:  # a REDUCE call with arguments: not how torch pickles modules
            raise UnsafePickleError(f"{self.qualified_name} was called with arguments; refused")

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise UnsafePickleError(f"{self.qualified_name}: unexpected pickled state of type {type(state).__name__}")
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"<record of {self.qualified_name}>"


class _StorageType:
    """What ``torch.FloatStorage`` etc. unpickle to: only the element type."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    if not isinstance(storage, torch.Tensor) or storage.dim() != 1:
        raise UnsafePickleError("_rebuild_tensor_v2 got something other than a storage")
    return storage.as_strided(tuple(size), tuple(stride), int(storage_offset))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError("_rebuild_parameter got something other than a tensor")
    return data


_FUNCTIONS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
}


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` admits only tensors, containers and record stand-ins."""

    def __init__(self, file, name: str, record_classes: Iterable[str], persistent_load):
        super().__init__(file)
        self.name = name
        self.record_classes = set(record_classes)
        self.records: dict[str, type[Record]] = {}
        self._persistent_load = persistent_load

    def find_class(self, module: str, name: str) -> Any:
        module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)  # protocol 2 names
        key = f"{module}.{name}"
        if (module, name) in _FUNCTIONS:
            return _FUNCTIONS[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if key in self.record_classes:
            if key not in self.records:
                self.records[key] = type(name, (Record,), {"qualified_name": key, "__module__": __name__})
            return self.records[key]
        raise UnsafePickleError(
            f"{self.name}: refused to read - the pickle references {key}, which is not a class a checkpoint needs "
            f"(allowed: tensors, storages, OrderedDict and the module classes {', '.join(sorted(self.record_classes))})"
            ". "
            "Nothing in it was executed."
        )

    def persistent_load(self, pid: Any) -> Any:
        return self._persistent_load(pid)


def load(path: str | Path, record_classes: Iterable[str]) -> Any:
    """The object a torch file holds, rebuilt without running any of its code (see the module docstring)."""
    path = Path(path)
    data = path.read_bytes()
    if zipfile.is_zipfile(io.BytesIO(data)):
        return _load_zip(data, str(path), record_classes)
    if data[:5] == b"ustar" or data[257:262] == b"ustar":
        raise UnsafePickleError(f"{path}: a pre-0.4 torch tar file; not supported (re-save it with a newer torch)")
    return _load_legacy(data, str(path), record_classes)


def _load_zip(data: bytes, name: str, record_classes: Iterable[str]) -> Any:
    archive = zipfile.ZipFile(io.BytesIO(data))
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise pickle.UnpicklingError(f"{name}: a zip file, but not torch's format (no single <archive>/data.pkl)")
    prefix = pickles[0][: -len("data.pkl")]
    if f"{prefix}byteorder" in archive.namelist() and archive.read(f"{prefix}byteorder").strip() != b"little":
        raise pickle.UnpicklingError(f"{name}: big-endian storages; not supported")
    storages: dict[str, torch.Tensor] = {}

    def persistent_load(pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafePickleError(f"{name}: unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickleError(f"{name}: a storage of unknown type {storage_type!r:.80}")
        if key not in storages:
            raw = bytearray(archive.read(f"{prefix}data/{key}"))
            itemsize = torch.empty((), dtype=storage_type.dtype).element_size()
            if len(raw) != numel * itemsize:
                raise pickle.UnpicklingError(
                    f"{name}: storage {key} holds {len(raw)} bytes, expected {numel * itemsize}"
                )
            storages[key] = (
                torch.frombuffer(raw, dtype=storage_type.dtype) if raw else torch.empty(0, dtype=storage_type.dtype)
            )
        return storages[key]

    with archive.open(pickles[0]) as handle:
        return RestrictedUnpickler(handle, name, record_classes, persistent_load).load()


def _load_legacy(data: bytes, name: str, record_classes: Iterable[str]) -> Any:
    stream = io.BytesIO(data)

    def plain(pid):
        raise UnsafePickleError(f"{name}: unexpected persistent id in a header pickle")

    try:
        magic = RestrictedUnpickler(stream, name, (), plain).load()
    except UnsafePickleError:
        raise
    except Exception as err:
        raise pickle.UnpicklingError(f"{name}: not a torch file ({type(err).__name__}: {err})") from None
    if magic != LEGACY_MAGIC:
        raise pickle.UnpicklingError(f"{name}: not a torch file (no torch magic number)")
    RestrictedUnpickler(stream, name, (), plain).load()  # protocol version
    sys_info = RestrictedUnpickler(stream, name, (), plain).load()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise pickle.UnpicklingError(f"{name}: big-endian storages; not supported")
    roots: dict[str, torch.Tensor] = {}

    def persistent_load(pid):
        if isinstance(pid, tuple) and pid and pid[0] == "module" and len(pid) == 4:
            if not (isinstance(pid[1], type) and issubclass(pid[1], Record)):
                raise UnsafePickleError(f"{name}: a module persistent id of a class that is not allowed")
            return pid[1]  # the legacy writer stores a module's class (and its source) this way
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise UnsafePickleError(f"{name}: unexpected persistent id {pid!r:.80}")
        _, storage_type, root_key, _location, numel, view = pid
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickleError(f"{name}: a storage of unknown type {storage_type!r:.80}")
        if root_key not in roots:
            roots[root_key] = torch.empty(int(numel), dtype=storage_type.dtype)  # filled after the pickle
        if view is None:
            return roots[root_key]
        _view_key, offset, view_size = view
        return roots[root_key][int(offset) : int(offset) + int(view_size)]

    result = RestrictedUnpickler(stream, name, record_classes, persistent_load).load()
    keys = RestrictedUnpickler(stream, name, (), plain).load()
    for key in keys:
        if key not in roots:
            raise pickle.UnpicklingError(f"{name}: storage {key} listed but never referenced")
        storage = roots[key]
        (numel,) = struct.unpack("<q", stream.read(8))
        nbytes = numel * storage.element_size()
        raw = stream.read(nbytes)
        if numel != storage.numel() or len(raw) != nbytes:
            raise pickle.UnpicklingError(f"{name}: storage {key} is truncated or of the wrong size")
        if nbytes:
            storage.copy_(torch.frombuffer(bytearray(raw), dtype=storage.dtype))
    return result


def module_state_dict(root: Record) -> collections.OrderedDict:
    """``state_dict()`` of a recorded module tree: parameters, persistent buffers, then children, recursively."""
    out: collections.OrderedDict = collections.OrderedDict()

    def walk(module: Any, prefix: str) -> None:
        if not isinstance(module, Record):
            raise pickle.UnpicklingError(f"{prefix or 'the root'} is a {type(module).__name__}, not a recorded module")
        state = module.__dict__
        for name, value in (state.get("_parameters") or {}).items():
            if value is not None:
                out[prefix + name] = value
        skip = state.get("_non_persistent_buffers_set") or set()
        for name, value in (state.get("_buffers") or {}).items():
            if value is not None and name not in skip:
                out[prefix + name] = value
        for name, child in (state.get("_modules") or {}).items():
            if child is not None:
                walk(child, f"{prefix}{name}.")

    walk(root, "")
    for key, value in out.items():
        if not isinstance(value, torch.Tensor):
            raise pickle.UnpicklingError(f"{key}: a {type(value).__name__}, not a tensor")
    return out
