class OpencorporaTag:
    # Each is one grammeme of the parse, or None when the tag has none of that category.
    POS: str | None
    case: str | None
    gender: str | None
    number: str | None
    @property
    def grammemes(self) -> frozenset[str]: ...
