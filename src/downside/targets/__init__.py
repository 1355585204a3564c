"""targets layer."""

__all__: list[str] = []
