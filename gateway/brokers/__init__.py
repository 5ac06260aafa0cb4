"""Local brokers FaceGate starts itself: embedded Tansu (demo) and Apache Kafka (from Maven Central)."""
