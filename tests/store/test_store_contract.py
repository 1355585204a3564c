"""The store contract suite of :mod:`downside.testing.store`, run against :class:`Store`."""

from __future__ import annotations

from pathlib import Path

import pytest

from downside.store import Store
from downside.testing.store import StoreContract


class TestStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Store:
        return Store(tmp_path / "store", lock_timeout_s=5)
