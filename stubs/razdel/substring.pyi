class Substring:
    start: int
    stop: int
    text: str
    def __init__(self, start: int, stop: int, text: str) -> None: ...
