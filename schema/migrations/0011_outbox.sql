-- The notification outbox without a row per message: the intent to notify is derived from
-- state the send already writes. A conversation whose last_seq is ahead of notified_seq has
-- messages nobody has been told about yet; the worker's sweeper (hub/notify/outbox.py)
-- re-queues its job when the job that Redis held was lost (Redis restarted empty, a hub died
-- between commit and enqueue). No index on the lag: an index whose key or predicate names
-- last_seq or last_message_at would turn every send's UPDATE of the conversation row from a
-- HOT update into one that writes every index of the table.
ALTER TABLE conversations ADD COLUMN notified_seq bigint NOT NULL DEFAULT 0;
UPDATE conversations SET notified_seq = last_seq;

-- Pushes recorded but not handed to FCM (a worker killed between the commit and the send, or
-- FCM asking to come back later): the sweeper delivers them again.
CREATE INDEX notifications_pending ON notifications (created_at) WHERE push_state = 'pending';
