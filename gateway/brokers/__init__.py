"""Local brokers started by FaceGate itself: the embedded Tansu demo broker and Apache Kafka from Maven Central."""
