from datetime import datetime

EVENT_JOB_ERROR: int
EVENT_JOB_MISSED: int

class SchedulerEvent:
    code: int

class JobEvent(SchedulerEvent):
    job_id: str
    jobstore: str

class JobExecutionEvent(JobEvent):
    scheduled_run_time: datetime
    retval: object
    exception: BaseException | None
    traceback: str | None
