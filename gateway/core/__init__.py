"""The functional core: pure, synchronous Python with no Kafka in it."""
