"""The arq worker: `dreamseed worker` (Procfile `worker`) runs WorkerSettings.

Redis settings and the queue name are passed in by the CLI from the process settings.
"""

from __future__ import annotations

from typing import Any, ClassVar

from arq import cron
from prometheus_client import start_http_server

from hub.exams import adaptive
from hub.keys import RedisKeys
from hub.notify.email import EmailSender
from hub.notify.push import PushSender
from hub.redis_bus import RedisBus
from hub.services import close_context, open_context
from hub.settings import Settings, load_settings
from workers.base import MAX_TRIES
from workers.exam_jobs import (
    recalibrate_items,
    recalibrate_recent,
    submit_overdue_attempt,
    sweep_overdue_attempts,
)
from workers.file_jobs import (
    expire_unattached_files,
    expire_uploads,
    process_file,
    requeue_pending_files,
    transcribe_file,
)
from workers.jobs import expire_link_requests, purge_expired_sessions
from workers.message_jobs import archive_message_months, prepare_message_months
from workers.notify_jobs import (
    notify_conversation,
    notify_users,
    release_held_notifications,
    send_email_digests,
    sweep_notify_outbox,
)
from workers.privacy_jobs import (
    build_export,
    erase_user,
    retention_daily,
    retention_monthly,
    retention_weekly,
)

EVERY_MINUTE = set(range(60))


async def startup(ctx: dict[str, Any]) -> None:
    settings = load_settings().require_runtime()
    bus = RedisBus(settings.redis_dsn, RedisKeys(settings.redis_namespace).socketio_channel)
    ctx["hub"] = await open_context(settings, bus)
    adaptive.wire(ctx["hub"])
    ctx["push"], ctx["email"] = senders(settings)
    if settings.worker_metrics_port:
        # Job outcomes, retries and dead letters for Prometheus, from the worker itself.
        start_http_server(settings.worker_metrics_port, addr=settings.host)


def senders(settings: Settings) -> tuple[PushSender, EmailSender]:
    push = PushSender(settings.fcm_service_account, endpoint=settings.fcm_endpoint)
    email = EmailSender(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_username,
        settings.smtp_password,
        start_tls=settings.smtp_starttls,
        sender=settings.email_from,
    )
    return push, email


async def shutdown(ctx: dict[str, Any]) -> None:
    if "push" in ctx:
        await ctx["push"].aclose()
    if "hub" in ctx:
        await close_context(ctx["hub"])


class WorkerSettings:
    functions: ClassVar[list[Any]] = [
        expire_link_requests,
        purge_expired_sessions,
        notify_conversation,
        notify_users,
        release_held_notifications,
        send_email_digests,
        sweep_notify_outbox,
        submit_overdue_attempt,
        sweep_overdue_attempts,
        recalibrate_items,
        recalibrate_recent,
        process_file,
        transcribe_file,
        requeue_pending_files,
        expire_uploads,
        expire_unattached_files,
        erase_user,
        retention_daily,
        retention_weekly,
        retention_monthly,
        build_export,
        prepare_message_months,
        archive_message_months,
    ]
    cron_jobs: ClassVar[list[Any]] = [
        cron(expire_link_requests, minute={0, 15, 30, 45}, run_at_startup=True),
        cron(purge_expired_sessions, hour={3}, minute={17}),
        cron(release_held_notifications, minute=EVERY_MINUTE),
        cron(send_email_digests, minute=EVERY_MINUTE, second={30}),
        cron(sweep_notify_outbox, second=set(range(0, 60, 5)), run_at_startup=True),
        cron(sweep_overdue_attempts, second=set(range(0, 60, 10)), run_at_startup=True),
        cron(recalibrate_recent, hour={2}, minute={40}),
        cron(requeue_pending_files, minute=EVERY_MINUTE, second={45}),
        cron(expire_uploads, minute={5}),
        cron(expire_unattached_files, hour={4}, minute={23}),
        cron(retention_daily, hour={4}, minute={41}),
        cron(retention_weekly, weekday={6}, hour={3}, minute={47}),
        cron(retention_monthly, day={1}, hour={2}, minute={53}),
        cron(prepare_message_months, hour={1}, minute={7}, run_at_startup=True),
        cron(archive_message_months, hour={1}, minute={37}),
    ]
    on_startup = startup
    on_shutdown = shutdown
    max_tries = MAX_TRIES
    job_timeout = 300
    # arq re-queues jobs cancelled by a shutdown and retries them (up to max_tries);
    # allow_abort_jobs additionally lets an operator abort a queued or running job.
    allow_abort_jobs = True
