from slovnet.span import Span

class SpanMarkup:
    text: str
    spans: list[Span]
