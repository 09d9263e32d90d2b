"""Value codecs: how Python objects become the bytes a Log stores, and back.

A codec is ``None`` (bytes-like in, ``bytes`` out), one of the names
``"utf-8"``, ``"json"``, ``"pickle"``, or any object with ``encode(obj) ->
bytes-like`` and ``decode(bytes) -> obj`` methods. Codecs run in Python,
above the C binding.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Callable, Dict, Optional, Protocol, Union, runtime_checkable

__all__ = ["Codec", "Utf8Codec", "JsonCodec", "PickleCodec", "CodecArg", "resolve"]


@runtime_checkable
class Codec(Protocol):
    """What a custom codec provides."""

    def encode(self, obj: Any) -> Any:  # a bytes-like object
        ...

    def decode(self, data: bytes) -> Any:
        ...


class Utf8Codec:
    """``str`` values stored as UTF-8."""

    name = "utf-8"

    def encode(self, obj: Any) -> bytes:
        if not isinstance(obj, str):
            raise TypeError(f"the utf-8 codec stores str values, not {type(obj).__name__}")
        return obj.encode("utf-8")

    def decode(self, data: bytes) -> str:
        return data.decode("utf-8")

    def __repr__(self) -> str:
        return "'utf-8'"


class JsonCodec:
    """JSON values (dict, list, str, numbers, bool, None) stored as compact UTF-8 JSON."""

    name = "json"

    def encode(self, obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def decode(self, data: bytes) -> Any:
        return json.loads(data)

    def __repr__(self) -> str:
        return "'json'"


class PickleCodec:
    """Any picklable object. Only read logs you trust: unpickling runs code."""

    name = "pickle"

    def encode(self, obj: Any) -> bytes:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, data: bytes) -> Any:
        return pickle.loads(data)

    def __repr__(self) -> str:
        return "'pickle'"


CodecArg = Union[None, str, Codec]

_NAMED: Dict[str, Callable[[], Codec]] = {
    "utf-8": Utf8Codec,
    "utf8": Utf8Codec,
    "json": JsonCodec,
    "pickle": PickleCodec,
}


def resolve(codec: object) -> Optional[Codec]:
    """The codec object for a ``codec=`` argument (``None`` for raw bytes).

    Raises ValueError for an unknown name and TypeError for anything that is
    neither a name nor an object with callable ``encode`` and ``decode``.
    """
    if codec is None:
        return None
    if isinstance(codec, str):
        try:
            return _NAMED[codec.lower()]()
        except KeyError:
            raise ValueError(
                f"unknown codec {codec!r}: use None, 'utf-8', 'json', 'pickle' "
                "or an object with encode() and decode()"
            ) from None
    if callable(getattr(codec, "encode", None)) and callable(getattr(codec, "decode", None)):
        return codec  # type: ignore[return-value]
    raise TypeError(
        f"codec must be None, 'utf-8', 'json', 'pickle' or an object with encode() and "
        f"decode() methods, not {type(codec).__name__}"
    )
