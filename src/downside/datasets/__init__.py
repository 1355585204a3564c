"""datasets layer."""

__all__: list[str] = []
