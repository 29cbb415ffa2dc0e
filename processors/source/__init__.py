"""Where a source record goes: decoded and validated once, then to the dead-letter
topic, to its lead's owner, or counted where it was read (clicks)."""
