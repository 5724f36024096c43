"""One base shape for each provider's resource types, and the registry each provider is built from.

A provider's resource types form a *family* under one base class (``LocalRecords``,
``WorkspaceRecords``, ``WmlResources``): every member declares its ``kind`` once, takes the
family's one constructor, and has the same hooks with the same signatures. The family's registry
(kind -> class) is derived from its subclasses as they are defined, as pyinfra's
``FactBase.__init_subclass__`` names facts, so a provider lists no kind by hand.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ResourceFamily:
    """The root of a family: a class that sets ``registry`` starts one; a subclass that sets ``kind`` joins it."""

    kind: ClassVar[str]
    registry: ClassVar[dict[str, type[Any]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "registry" in cls.__dict__ or "kind" not in cls.__dict__:
            return  # a family's base, or a base its members share
        if cls.kind in cls.registry:
            raise TypeError(f"{cls.__qualname__}: {cls.registry[cls.kind].__qualname__} serves {cls.kind} in this family already")
        cls.registry[cls.kind] = cls
