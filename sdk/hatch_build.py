"""Build hook: the contract's schemas come from the repository's schemas/, never from a copy.

Built from a checkout (sdk/ next to schemas/), the wheel gets them as facegate_sdk/schemas and
the sdist as facegate_sdk/schemas too, so a wheel built from that sdist finds them in the package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class SchemasHook(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return  # the package reads ../schemas in place
        root = Path(self.root)
        if (root / "facegate_sdk" / "schemas").is_dir():
            return  # building from an sdist, which already holds them
        source = root.parent / "schemas"
        if not any(source.glob("*.avsc")):
            raise RuntimeError(f"no contract schemas at {source}: build facegate-sdk from a FaceGate checkout")
        for path in sorted(source.glob("*.avsc")):  # the current contract only, not schemas/released
            build_data["force_include"][str(path)] = f"facegate_sdk/schemas/{path.name}"
