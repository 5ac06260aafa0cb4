"""The root of FaceGate's own errors. Each keeps the built-in base that says what kind of error it
is (a ValueError for bad input, a LookupError for something missing), and all derive from
FaceGateError, so a caller can tell FaceGate's refusals from bugs with one except clause."""


class FaceGateError(Exception):
    """An error FaceGate raises on purpose, with a message fit to show (never biometric data)."""
