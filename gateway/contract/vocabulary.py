"""The enum-like vocabularies of the contract. Symbols match schemas/*.avsc (tested); each enum's
Avro default is the symbol a reader makes of a value added after its release, chosen to be
refused or treated as the strictest case (never GRANTED, never a permissive purpose)."""

from __future__ import annotations

from enum import StrEnum


class Purpose(StrEnum):
    ACCESS_CONTROL = "ACCESS_CONTROL"
    PUBLIC_SECURITY = "PUBLIC_SECURITY"
    SECURITY = "SECURITY"
    ATTENDANCE = "ATTENDANCE"
    PAYMENT = "PAYMENT"
    REPEAT_VISITOR_RECOGNITION = "REPEAT_VISITOR_RECOGNITION"
    MARKETING = "MARKETING"
    PRICING = "PRICING"
    COMMISSION_ATTRIBUTION = "COMMISSION_ATTRIBUTION"
    PROFILING = "PROFILING"
    SALE = "SALE"
    UNKNOWN = "UNKNOWN"  # a purpose newer than this release: nothing may allow it


class Decision(StrEnum):
    FORWARDED = "FORWARDED"
    STRIPPED = "STRIPPED"
    BLOCKED = "BLOCKED"
    REJECTED = "REJECTED"
    SHARED = "SHARED"
    SHARE_BLOCKED = "SHARE_BLOCKED"
    ERASED = "ERASED"


class Occlusion(StrEnum):
    NONE = "NONE"
    MASK = "MASK"
    OTHER = "OTHER"


class LocationType(StrEnum):
    SALES_OFFICE = "SALES_OFFICE"
    RETAIL = "RETAIL"
    RESIDENTIAL_ENTRANCE = "RESIDENTIAL_ENTRANCE"
    OFFICE = "OFFICE"
    TRANSPORT_HUB = "TRANSPORT_HUB"
    PUBLIC_PLACE = "PUBLIC_PLACE"
    HOTEL_ROOM = "HOTEL_ROOM"
    BATHROOM = "BATHROOM"
    CHANGING_ROOM = "CHANGING_ROOM"
    TOILET = "TOILET"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"  # a kind of place newer than this release: captures are blocked


class ConsentStatus(StrEnum):
    GRANTED = "GRANTED"
    WITHDRAWN = "WITHDRAWN"


class ConsentMethod(StrEnum):
    WRITTEN = "WRITTEN"
    ELECTRONIC = "ELECTRONIC"
