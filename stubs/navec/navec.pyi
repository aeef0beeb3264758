from typing import Self

class Navec:
    @classmethod
    def load(cls, path: str) -> Self: ...
