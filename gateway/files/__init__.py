"""What FaceGate reads from files and writes to them: the jurisdiction packs and calibrations it
ships, the operator's tenant policies, audit exports. The core reads no file; it is given what
these modules read."""
