"""tracking layer."""

__all__: list[str] = []
