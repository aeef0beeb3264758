class Span:
    start: int
    stop: int
    type: str
