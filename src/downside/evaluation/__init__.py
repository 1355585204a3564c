"""evaluation layer."""

__all__: list[str] = []
