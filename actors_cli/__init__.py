"""The composition roots: the ``actors`` command (``main``), ``actors dev`` (``dev``) and
the commands users run against an API (``client_commands``). Only here do the API and
the spawner meet in one process."""
