"""FaceGate: a data-governance gateway for biometric event streams."""

__version__ = "0.2.0"
