"""The ``zoomsymbl`` operator command: replay Kafka events and inspect meetings."""
