"""models layer."""

__all__: list[str] = []
