"""FaceGate: a data-governance gateway for biometric event streams."""

__version__ = "0.3.0"
