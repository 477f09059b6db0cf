"""Prometheus metrics of the hub, defined once."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "dreamseed_http_requests_total", "REST requests by route and status", ["route", "status"]
)
HTTP_LATENCY = Histogram(
    "dreamseed_http_request_seconds", "REST request latency by route", ["route"]
)
ERRORS = Counter(
    "dreamseed_errors_total",
    "Refused or failed requests by transport and code",
    ["transport", "code"],
)
RATE_LIMITED = Counter(
    "dreamseed_rate_limited_total", "Requests refused by a rate limit", ["scope"]
)
LOGINS = Counter("dreamseed_logins_total", "Login attempts by outcome", ["outcome"])
MESSAGES = Counter("dreamseed_messages_total", "Messages by outcome", ["outcome"])
SOCKET_EVENTS = Counter(
    "dreamseed_socket_events_total", "Socket.IO client events by outcome", ["event", "outcome"]
)
SOCKETS = Gauge("dreamseed_sockets", "Live Socket.IO connections on this process")
BUS_REBUILDS = Counter("dreamseed_bus_listener_rebuilds_total", "Deaf bus listeners rebuilt")
JOB_QUEUE_DEPTH = Gauge("dreamseed_job_queue_depth", "Jobs queued, deferred ones included")
JOB_QUEUE_LAG = Gauge("dreamseed_job_queue_lag_seconds", "Age of the oldest job that is due")
JOBS = Counter("dreamseed_jobs_total", "Background jobs by name and outcome", ["job", "outcome"])
EXAM_EVENTS = Counter(
    "dreamseed_exam_events_total", "Exam attempts started, answered and finished", ["event"]
)
PROCTOR_FLAGS = Counter(
    "dreamseed_proctor_flags_total", "Proctoring events from exam clients", ["kind", "severity"]
)
CAT_SELECTION = Histogram(
    "dreamseed_cat_selection_seconds",
    "CAT answer handling: estimate update and next-item pick",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
)
FILES = Counter("dreamseed_files_total", "Uploads and file checks by outcome", ["outcome", "check"])
FILE_PROCESSING = Histogram(
    "dreamseed_file_processing_seconds", "Worker time per file step", ["step"]
)

SLOW_CONSUMERS = Counter(
    "dreamseed_slow_consumers_total",
    "Sockets closed because their outgoing queue passed the backlog limit (a client not reading)",
)
PRIVACY_ROWS = Counter(
    "dreamseed_privacy_rows_total",
    "Rows touched by erasures and retention jobs, by job and table",
    ["job", "table"],
)
PRIVACY_REFUSALS = Counter(
    "dreamseed_privacy_refusals_total", "Refused erasure and export requests", ["reason"]
)

# Load shedding (issue 13 §2): work refused as `overloaded`, handshakes refused per address.
SHED = Counter("dreamseed_shed_total", "Work refused as overloaded", ["where"])
CONNECTS_REFUSED = Counter(
    "dreamseed_connects_refused_total", "Handshakes refused: too many from one client address"
)

# Message partitions (hub/chat/partitions.py).
MESSAGE_PARTITIONS = Counter(
    "dreamseed_message_partitions_total",
    "Monthly message partitions created (ahead by the job, or on demand by a send) and archived",
    ["event"],
)
MESSAGE_MONTHS_AHEAD = Gauge(
    "dreamseed_message_months_ahead",
    "Months after the current one that already have a partition (alert when below 1)",
)
