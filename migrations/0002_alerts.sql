-- healthmon schema, version 2: daily rollups, maintenance windows, alerts and the outbox.

-- Facts about this database, e.g. the random id that makes its mail Message-IDs unique.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- The hourly rollups summed per UTC day, written in the same transaction, so a 30-day window
-- reads about 30 rows per check (plus the hours of a partial first or last day), not 720.
CREATE TABLE rollups_daily (
    check_id       INTEGER NOT NULL REFERENCES checks (id),
    day_ms         INTEGER NOT NULL,
    probes         INTEGER NOT NULL DEFAULT 0,
    healthy        INTEGER NOT NULL DEFAULT 0,
    degraded       INTEGER NOT NULL DEFAULT 0,
    unhealthy      INTEGER NOT NULL DEFAULT 0,
    healthy_ms     INTEGER NOT NULL DEFAULT 0,
    degraded_ms    INTEGER NOT NULL DEFAULT 0,
    unhealthy_ms   INTEGER NOT NULL DEFAULT 0,
    latency_sum_us INTEGER NOT NULL DEFAULT 0,
    latency_min_us INTEGER,
    latency_max_us INTEGER,
    b00 INTEGER NOT NULL DEFAULT 0, b01 INTEGER NOT NULL DEFAULT 0, b02 INTEGER NOT NULL DEFAULT 0,
    b03 INTEGER NOT NULL DEFAULT 0, b04 INTEGER NOT NULL DEFAULT 0, b05 INTEGER NOT NULL DEFAULT 0,
    b06 INTEGER NOT NULL DEFAULT 0, b07 INTEGER NOT NULL DEFAULT 0, b08 INTEGER NOT NULL DEFAULT 0,
    b09 INTEGER NOT NULL DEFAULT 0, b10 INTEGER NOT NULL DEFAULT 0, b11 INTEGER NOT NULL DEFAULT 0,
    b12 INTEGER NOT NULL DEFAULT 0, b13 INTEGER NOT NULL DEFAULT 0, b14 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (check_id, day_ms)
) WITHOUT ROWID;

INSERT INTO rollups_daily
SELECT check_id, (hour_ms / 86400000) * 86400000, sum(probes), sum(healthy), sum(degraded),
       sum(unhealthy), sum(healthy_ms), sum(degraded_ms), sum(unhealthy_ms), sum(latency_sum_us),
       min(latency_min_us), max(latency_max_us),
       sum(b00), sum(b01), sum(b02), sum(b03), sum(b04), sum(b05), sum(b06), sum(b07), sum(b08),
       sum(b09), sum(b10), sum(b11), sum(b12), sum(b13), sum(b14)
FROM rollups_hourly GROUP BY check_id, (hour_ms / 86400000) * 86400000;

-- Open incidents are found by their missing end; closed ones overlapping a window by it.
CREATE INDEX incidents_by_end ON incidents (ended_ms);

-- Maintenance windows as they happened (recorded when each began), so availability months
-- later still leaves them out even if the config changed since. check_id NULL: every check.
CREATE TABLE maintenance_windows (
    id       INTEGER PRIMARY KEY,
    name     TEXT    NOT NULL,
    check_id INTEGER REFERENCES checks (id),
    start_ms INTEGER NOT NULL,
    end_ms   INTEGER NOT NULL,
    UNIQUE (name, check_id, start_ms)
);
CREATE INDEX maintenance_by_time ON maintenance_windows (start_ms);

-- Alerts: one row per alert, from firing to resolved. Ids are assigned by the engine.
-- alert_key says what it is about ("state:api", "threshold:db-slow", "slo:api",
-- "flapping:api"); at most one alert per key is open at a time.
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    alert_key       TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('state', 'threshold', 'slo', 'flapping')),
    check_name      TEXT    NOT NULL,
    rule            TEXT,
    level           TEXT    NOT NULL CHECK (level IN ('warning', 'critical')),
    state           TEXT    NOT NULL CHECK (state IN ('firing', 'acknowledged', 'resolved')),
    started_ms      INTEGER NOT NULL,
    resolved_ms     INTEGER,
    acknowledged_ms INTEGER,
    value           REAL,
    message         TEXT,
    -- The engine's memory of it as JSON: who was told (and in which mail thread), reminders
    -- sent and the next one due, why it is held back. Read back on start.
    detail          TEXT    NOT NULL DEFAULT '{}',
    updated_ms      INTEGER NOT NULL
);
CREATE UNIQUE INDEX alerts_open_by_key ON alerts (alert_key) WHERE state != 'resolved';
CREATE INDEX alerts_by_start ON alerts (started_ms);
CREATE INDEX alerts_by_check ON alerts (check_name, started_ms);

-- The outbox: every notification to send, kept until the receiving server accepted it.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    notifier        TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    body            TEXT    NOT NULL,   -- the message as JSON (the webhook body, version 1)
    thread          TEXT    NOT NULL,   -- Message-ID, In-Reply-To, References as JSON
    -- cancelled: a reminder of an alert acknowledged before it went out.
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_ms      INTEGER NOT NULL,
    next_attempt_ms INTEGER,
    sent_ms         INTEGER,
    error           TEXT
);
CREATE INDEX notifications_pending ON notifications (state) WHERE state = 'pending';

-- Which alerts each notification spoke of (a grouped message speaks of several).
CREATE TABLE notification_alerts (
    notification_id INTEGER NOT NULL REFERENCES notifications (id),
    alert_id        INTEGER NOT NULL REFERENCES alerts (id),
    PRIMARY KEY (notification_id, alert_id)
) WITHOUT ROWID;
CREATE INDEX notification_alerts_by_alert ON notification_alerts (alert_id);
