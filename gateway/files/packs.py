"""The jurisdiction packs shipped with FaceGate (packs/*.yaml beside this module)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from gateway.core.policy.pack import JurisdictionPack, PolicyError, parse_pack

PACKS = Path(__file__).parent / "packs"


def pack_ids() -> list[str]:
    return sorted(path.stem for path in PACKS.glob("*.yaml"))


@cache
def load_pack(pack_id: str) -> JurisdictionPack:
    path = PACKS / f"{pack_id}.yaml"
    if not path.is_file():
        raise PolicyError(f"unknown jurisdiction pack {pack_id!r} (known: {', '.join(pack_ids())})")
    return parse_pack(path.read_text(), path.name)
