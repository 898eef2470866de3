"""Local infrastructure for Vigie without Docker: a KRaft Kafka broker from jars and a private PostgreSQL."""
