"""features layer."""

__all__: list[str] = []
