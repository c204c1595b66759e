"""The ``zoomsymbl`` operator command (:mod:`.cli`): status, replay, topics, forget, and other packages' subcommands."""
