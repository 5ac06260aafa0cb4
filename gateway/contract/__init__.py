"""The wire contract: Avro schemas, their Python models, the codec and the topic set."""
