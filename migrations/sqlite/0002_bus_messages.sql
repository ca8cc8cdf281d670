-- Message ids already applied from the bus: a broker redelivers what was not acknowledged
-- before a crash or reconnect, and a result or progress event must count once.
CREATE TABLE bus_messages (
    message_id  TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
);
CREATE INDEX bus_messages_by_time ON bus_messages (received_at);
