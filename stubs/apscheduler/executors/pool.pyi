from typing import Any

from apscheduler.executors.base import BaseExecutor

class BasePoolExecutor(BaseExecutor): ...

class ThreadPoolExecutor(BasePoolExecutor):
    def __init__(self, max_workers: int = 10,
                 pool_kwargs: dict[str, Any] | None = None) -> None: ...
