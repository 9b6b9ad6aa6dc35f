"""Test-only helpers (oracles, references), imported as ``support.<module>`` (pytest ``pythonpath``)."""
