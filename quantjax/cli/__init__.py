"""The ``quantjax`` command. One module per subcommand group; see ``main.py``."""
