"""The ``zoomsymbl`` operator command (:mod:`.cli`): status, replay, topics, and subcommands other packages add."""
