"""The model-family registry: one module per family in this package, each defining `FAMILY` (or `FAMILIES`, for
modules holding related families), a families.base.Family. Generic code asks the entry what differs: which
parameters are the projector and the vision tower, how many placeholder tokens a frame makes, how images and
videos go in, the prompt template, the tiny model's config. Nothing decides behaviour from a family's, folder's
or hub name: the family is named in the config.
"""
from __future__ import annotations

import importlib
import pkgutil

from ..geometry.box_formats import FORMATS
from .base import CHATML_TOKENS, SPECIAL_TOKENS, Family, TinySpec

__all__ = ["CHATML_TOKENS", "FAMILIES", "Family", "SPECIAL_TOKENS", "TinySpec", "get_family"]


def _discover() -> dict[str, Family]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        found += getattr(loaded, "FAMILIES", []) + ([loaded.FAMILY] if hasattr(loaded, "FAMILY") else [])
    return {family.name: family for family in sorted(found, key=lambda f: f.name)}


def _check(families: dict[str, Family]) -> None:
    for name, family in families.items():
        assert family.frames_as in ("images", "video"), name
        assert family.vision_towers and family.projectors and family.chat_template in ("vicuna_v1", "model"), name
        assert family.box_format in FORMATS, name
        assert family.visual_tokens in ("fixed", "dynamic"), name
        assert callable(family.tiny_config) and callable(family.tiny_image_processor), name


FAMILIES: dict[str, Family] = _discover()
_check(FAMILIES)


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; choose one of {sorted(FAMILIES)}") from None
