-- healthmon schema, version 1. Times are milliseconds since the Unix epoch (UTC); every
-- counter is an INTEGER, which SQLite stores as up to 64 bits.

-- Every check ever configured, by name; ids stay stable across restarts.
CREATE TABLE checks (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL,
    first_seen_ms INTEGER NOT NULL
);

-- One row per daemon run. Time outside every run is "no data".
CREATE TABLE runs (
    id           INTEGER PRIMARY KEY,
    started_ms   INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,   -- advanced by the writer; the end of a run that crashed
    stopped_ms   INTEGER,            -- set on a clean stop
    version      TEXT    NOT NULL
);

-- When each check started being watched in each run (its first result).
CREATE TABLE run_checks (
    run_id   INTEGER NOT NULL REFERENCES runs (id),
    check_id INTEGER NOT NULL REFERENCES checks (id),
    first_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, check_id)
) WITHOUT ROWID;

-- The raw health log: one row per probe. Pruned after [storage] retention.
CREATE TABLE health_log (
    id          INTEGER PRIMARY KEY,
    check_id    INTEGER NOT NULL REFERENCES checks (id),
    ts_ms       INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('healthy', 'degraded', 'unhealthy')),
    response_us INTEGER NOT NULL,
    message     TEXT,
    observed    TEXT,                -- JSON object, or NULL when empty
    circuit     TEXT    NOT NULL CHECK (circuit IN ('closed', 'open', 'half_open'))
);
CREATE INDEX health_log_by_check_time ON health_log (check_id, ts_ms);

-- Hourly rollups, updated in the same transaction as the raw rows and kept after the raw
-- rows are pruned. *_ms columns hold time spent in each status (from one result to the next).
-- b00..b14 count probes by latency: <=1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500,
-- 5000, 10000, 30000 ms, and above.
CREATE TABLE rollups_hourly (
    check_id       INTEGER NOT NULL REFERENCES checks (id),
    hour_ms        INTEGER NOT NULL,
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
    PRIMARY KEY (check_id, hour_ms)
) WITHOUT ROWID;

-- Confirmed outages: from the first failure of a confirmed streak to the first success of a
-- confirmed recovery. ended_ms is NULL while open.
CREATE TABLE incidents (
    id           INTEGER PRIMARY KEY,
    check_id     INTEGER NOT NULL REFERENCES checks (id),
    started_ms   INTEGER NOT NULL,
    confirmed_ms INTEGER NOT NULL,
    ended_ms     INTEGER,
    message      TEXT
);
CREATE INDEX incidents_by_check_time ON incidents (check_id, started_ms);
CREATE INDEX incidents_by_time ON incidents (started_ms);
