from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from apscheduler.events import JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job
from apscheduler.triggers.base import BaseTrigger

class BaseScheduler:
    # job_defaults mixes value types (coalesce: bool, max_instances: int, ...).
    def __init__(self, gconfig: Mapping[str, object] = ..., *,
                 executors: Mapping[str, BaseExecutor] = ...,
                 job_defaults: Mapping[str, object] = ...,
                 timezone: tzinfo | str = ...) -> None: ...
    def start(self, paused: bool = False) -> None: ...
    def shutdown(self, wait: bool = True) -> None: ...
    # Listeners get the event of the mask's kind; SpaceWatch listens to job execution only.
    def add_listener(self, callback: Callable[[JobExecutionEvent], object],
                     mask: int = ...) -> None: ...
    def add_job(
        self,
        func: Callable[..., object],
        trigger: BaseTrigger | str | None = None,
        args: Iterable[object] | None = None,
        kwargs: Mapping[str, object] | None = None,
        id: str | None = None,
        name: str | None = None,
        misfire_grace_time: int | None = ...,
        coalesce: bool = ...,
        max_instances: int = ...,
        next_run_time: datetime | None = ...,
        jobstore: str = "default",
        executor: str = "default",
        replace_existing: bool = False,
        **trigger_args: Any,
    ) -> Job: ...
    def reschedule_job(self, job_id: str, jobstore: str | None = None,
                       trigger: BaseTrigger | str | None = None, **trigger_args: Any) -> Job: ...
    def get_jobs(self, jobstore: str | None = None, pending: bool | None = None) -> list[Job]: ...
    def get_job(self, job_id: str, jobstore: str | None = None) -> Job | None: ...
