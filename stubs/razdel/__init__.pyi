# razdel ships no type information: sentenize and tokenize yield Substring records.
from collections.abc import Iterator

from razdel.substring import Substring

def sentenize(text: str) -> Iterator[Substring]: ...
def tokenize(text: str) -> Iterator[Substring]: ...
