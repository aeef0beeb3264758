from typing import NamedTuple

from pymorphy3.tagset import OpencorporaTag

class _Parse(NamedTuple):
    word: str
    tag: OpencorporaTag
    normal_form: str
    score: float
    methods_stack: tuple[object, ...]

class Parse(_Parse):
    def inflect(self, required_grammemes: set[str]) -> Parse | None: ...

class MorphAnalyzer:
    def __init__(self, path: str | None = None, lang: str | None = None) -> None: ...
    def parse(self, word: str) -> list[Parse]: ...
    def word_is_known(self, word: str, strict: bool = False) -> bool: ...
