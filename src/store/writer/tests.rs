use super::*;
use crate::breaker::CircuitState;
use crate::checks::Observed;
use crate::store::Store;
use chrono::{TimeZone, Utc};

fn names(n: &[&str]) -> Vec<CheckName> {
    n.iter()
        .map(|name| CheckName {
            name: name.to_string(),
            kind: "memory".into(),
        })
        .collect()
}

fn settings() -> WriterSettings {
    WriterSettings {
        batch_window: Duration::from_millis(10),
        busy_timeout: Duration::from_millis(100),
        ..WriterSettings::new(Duration::from_secs(3600), None)
    }
}

fn setup(dir: &std::path::Path, checks: &[&str], settings: WriterSettings) -> (Store, Writer) {
    let (store, conn) = Store::open(&dir.join("h.db")).unwrap();
    let writer = Writer::new(conn, &names(checks), settings).unwrap();
    (store, writer)
}

fn result(check: usize, at_ms: i64, status: Status) -> Arc<CheckResult> {
    Arc::new(CheckResult {
        check,
        started_at: Utc.timestamp_millis_opt(at_ms).unwrap(),
        response_time: Duration::from_millis(12),
        status,
        message: (status == Status::Unhealthy).then(|| "down".to_string()),
        observed: Observed::new(),
        circuit: CircuitState::Closed,
        consecutive_failures: 0,
        retry_at: None,
    })
}

fn incidents(conn: &Connection) -> Vec<(i64, Option<i64>, Option<String>)> {
    conn.prepare("SELECT started_ms, ended_ms, message FROM incidents ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_rollups_and_incident_changes_are_all_committed_by_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = setup(dir.path(), &["api"], settings());
    let (input, done) = writer.spawn().unwrap();
    let t0 = 1_700_000_000_000; // 22:13:20 UTC, inside one hour
    use Status::*;
    for (i, s) in [Healthy, Unhealthy, Healthy, Unhealthy, Unhealthy, Healthy]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            input.send_result(result(0, t0 + i as i64 * 15_000, s)),
            Sent::Queued
        );
    }
    input.send_op(Op::IncidentOpened {
        check: 0,
        started_ms: t0 + 45_000,
        confirmed_ms: t0 + 60_000,
        first_error: Some("down".into()),
    });
    let last = input
        .send_op(Op::IncidentResolved {
            check: 0,
            ended_ms: t0 + 75_000,
        })
        .unwrap();
    assert!(input.wait_committed(last, Duration::from_secs(5)).await);
    drop(input);
    let report = done.finished().await.unwrap();
    assert_eq!((report.stored, report.dropped, report.ops_lost), (6, 0, 0));

    let conn = store.connection().unwrap();
    assert_eq!(
        incidents(&conn),
        vec![(t0 + 45_000, Some(t0 + 75_000), Some("down".into()))]
    );
    for table in ["rollups_hourly", "rollups_daily"] {
        let (probes, unhealthy, unhealthy_ms): (i64, i64, i64) = conn
            .query_row(
                &format!("SELECT sum(probes), sum(unhealthy), sum(unhealthy_ms) FROM {table}"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((probes, unhealthy), (6, 3), "{table}");
        assert_eq!(
            unhealthy_ms, 45_000,
            "{table}: time from each unhealthy result to the next"
        );
    }
    let stopped: Option<i64> = conn
        .query_row("SELECT stopped_ms FROM runs", [], |r| r.get(0))
        .unwrap();
    assert!(
        stopped.is_some(),
        "a clean end records when the run stopped"
    );
}

#[test]
fn a_batch_larger_than_a_statement_chunk_stores_every_row_and_rollup_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // 40 checks with two results each: 80 rows (two full chunks and 16 single rows) and
    // 40 rollup rows (one full chunk and 8 single rows).
    let checks: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
    let refs: Vec<&str> = checks.iter().map(String::as_str).collect();
    let (store, mut writer) = setup(dir.path(), &refs, settings());
    let t0 = 1_700_000_000_000;
    let mut results = Vec::new();
    for round in 0..2_i64 {
        for check in 0..40 {
            let mut observed = Observed::new();
            observed.insert("round".into(), round.into());
            let status = if check == 7 && round == 1 {
                Status::Unhealthy
            } else {
                Status::Healthy
            };
            results.push(Arc::new(CheckResult {
                check,
                started_at: Utc.timestamp_millis_opt(t0 + round * 1000).unwrap(),
                response_time: Duration::from_micros(1000 + check as u64),
                status,
                message: Some(format!("c{check} r{round}")),
                observed,
                circuit: CircuitState::Closed,
                consecutive_failures: 0,
                retry_at: None,
            }));
        }
    }
    writer.write_now(results, Vec::new()).unwrap();
    assert_eq!(writer.report.stored, 80);

    let conn = store.connection().unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM health_log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 80);
    // A row from a full chunk and one from the single-row tail keep their own values.
    for (check, round) in [(3_i64, 0_i64), (39, 1)] {
        let (status, us, message, observed): (String, i64, String, String) = conn
            .query_row(
                "SELECT l.status, l.response_us, l.message, l.observed FROM health_log l
                 JOIN checks c ON c.id = l.check_id WHERE c.name = ?1 AND l.ts_ms = ?2",
                params![format!("c{check}"), t0 + round * 1000],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            (status.as_str(), us, message, observed),
            (
                "healthy",
                1000 + check,
                format!("c{check} r{round}"),
                format!("{{\"round\":{round}}}")
            )
        );
    }
    for table in ["rollups_hourly", "rollups_daily"] {
        let per_check: Vec<(String, i64, i64, i64)> = conn
            .prepare(&format!(
                "SELECT c.name, r.probes, r.unhealthy, r.latency_sum_us FROM {table} r
                 JOIN checks c ON c.id = r.check_id ORDER BY c.id"
            ))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(per_check.len(), 40, "{table}");
        for (i, (name, probes, unhealthy, latency)) in per_check.into_iter().enumerate() {
            let i = i as i64;
            assert_eq!(
                (name, probes, unhealthy, latency),
                (format!("c{i}"), 2, i64::from(i == 7), 2 * (1000 + i)),
                "{table}"
            );
        }
    }
}

#[test]
fn pruning_deletes_old_raw_results_and_keeps_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, writer) = setup(dir.path(), &["api"], settings());
    let conn = &writer.conn;
    let id = writer.ids[0];
    for ts in [1_000, 2_000, 5_000_000] {
        conn.execute(
            "INSERT INTO health_log (check_id, ts_ms, status, response_us, circuit) VALUES (?1, ?2, 'healthy', 1, 'closed')",
            params![id, ts],
        )
        .unwrap();
    }
    conn.execute(
        "INSERT INTO rollups_hourly (check_id, hour_ms, probes) VALUES (?1, 0, 2), (?1, 3600000, 1)",
        [id],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO rollups_daily (check_id, day_ms, probes) VALUES (?1, 0, 3)",
        [id],
    )
    .unwrap();
    assert_eq!(prune(conn, 3_000, None).unwrap(), 2);
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(
        (
            count("health_log"),
            count("rollups_hourly"),
            count("rollups_daily")
        ),
        (1, 2, 1)
    );
    assert_eq!(
        prune(conn, 3_000, Some(90_000_000)).unwrap(),
        3,
        "rollups go only with rollup_retention"
    );
}

/// Holds the database's write lock from another connection, as another process could.
struct Lock(Connection);

impl Lock {
    fn take(path: &std::path::Path) -> Lock {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        Lock(conn)
    }

    fn release(self) {
        self.0.execute_batch("COMMIT").unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_change_waits_out_a_locked_database_and_is_committed_once_it_is_free() {
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = setup(dir.path(), &["api"], settings());
    let (input, done) = writer.spawn().unwrap();
    let lock = Lock::take(store.path());

    let t0 = 1_700_000_000_000;
    let opened = input
        .send_op(Op::IncidentOpened {
            check: 0,
            started_ms: t0,
            confirmed_ms: t0 + 2_000,
            first_error: Some("refused".into()),
        })
        .unwrap();
    assert!(
        !input
            .wait_committed(opened, Duration::from_millis(1500))
            .await,
        "nothing can commit while the lock is held"
    );
    let health = input.monitor().health();
    assert_eq!(health.pending_ops, 1);
    assert!(
        health.failing_since_ms.is_some() && health.errors >= 1,
        "{health:?}"
    );
    assert!(health.oldest_pending_seconds >= 1.0, "{health:?}");
    let closed = input
        .send_op(Op::IncidentResolved {
            check: 0,
            ended_ms: t0 + 9_000,
        })
        .unwrap();

    lock.release();
    assert!(input.wait_committed(closed, Duration::from_secs(10)).await);
    let health = input.monitor().health();
    assert_eq!((health.pending_ops, health.failing_since_ms), (0, None));
    let conn = store.connection().unwrap();
    assert_eq!(
        incidents(&conn),
        vec![(t0, Some(t0 + 9_000), Some("refused".into()))],
        "both the open and the close survived the lock, in order"
    );
    drop(input);
    assert_eq!(done.finished().await.unwrap().ops_lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_writer_refuses_results_beyond_its_queue_at_once_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = setup(
        dir.path(),
        &["api"],
        WriterSettings {
            queue: 20,
            ..settings()
        },
    );
    let (input, done) = writer.spawn().unwrap();
    let lock = Lock::take(store.path());
    let t0 = 1_700_000_000_000;
    // The first result starts a batch the lock holds up; the queue then fills.
    input.send_result(result(0, t0, Status::Healthy));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let sent: Vec<Sent> = (1..=100)
        .map(|i| input.send_result(result(0, t0 + i * 1000, Status::Healthy)))
        .collect();
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "handing over never waits for the store"
    );
    let queued = sent.iter().filter(|s| **s == Sent::Queued).count();
    assert_eq!(queued, 20, "the queue holds its bound");
    assert_eq!(input.monitor().health().results_dropped, 80);

    lock.release();
    drop(input);
    let report = done.finished().await.unwrap();
    assert_eq!((report.stored, report.dropped), (21, 80));
    let rows: i64 = store
        .connection()
        .unwrap()
        .query_row("SELECT count(*) FROM health_log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_the_database_stays_locked_ends_after_the_grace_and_says_what_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (store, writer) = setup(
        dir.path(),
        &["api"],
        WriterSettings {
            shutdown_grace: Duration::from_millis(500),
            ..settings()
        },
    );
    let (input, done) = writer.spawn().unwrap();
    let _lock = Lock::take(store.path());
    input.send_op(Op::IncidentResolved {
        check: 0,
        ended_ms: 5,
    });
    input.send_result(result(0, 1_700_000_000_000, Status::Healthy));
    drop(input);
    let report = tokio::time::timeout(Duration::from_secs(10), done.finished())
        .await
        .expect("the writer ends within its grace")
        .unwrap();
    assert_eq!((report.ops_lost, report.dropped), (1, 1));
}

#[test]
fn alert_rows_and_the_outbox_round_trip_through_the_ops_lane() {
    use crate::store::alerts::{
        self as sql, AlertFilter, AlertOp, AlertRow, Attempt, NotificationRow,
    };
    let dir = tempfile::tempdir().unwrap();
    let (store, mut writer) = setup(dir.path(), &["api", "db"], settings());
    let row = |id: i64, key: &str, check: &str, state: &str, detail: &str| AlertRow {
        id,
        key: key.into(),
        kind: "state".into(),
        check: check.into(),
        rule: None,
        level: "critical".into(),
        state: state.into(),
        started_ms: 1000 * id,
        resolved_ms: (state == "resolved").then_some(5000 * id),
        acknowledged_ms: None,
        value: None,
        message: Some("refused".into()),
        detail: detail.into(),
        updated_ms: 1,
    };
    let ops = vec![
        AlertOp::Alert(row(1, "state:api", "api", "firing", "{}")),
        AlertOp::Alert(row(2, "state:db", "db", "resolved", "{}")),
        AlertOp::Alert(row(
            3,
            "state:db",
            "db",
            "resolved",
            r#"{"resolve_pending":true}"#,
        )),
        AlertOp::Enqueue(NotificationRow {
            id: 10,
            notifier: "oncall".into(),
            event: "firing".into(),
            body: "{}".into(),
            thread: "{}".into(),
            created_ms: 7,
            alert_ids: vec![1, 3],
        }),
        AlertOp::Enqueue(NotificationRow {
            id: 11,
            notifier: "oncall".into(),
            event: "resolved".into(),
            body: "{}".into(),
            thread: "{}".into(),
            created_ms: 8,
            alert_ids: vec![3],
        }),
        AlertOp::Attempt(Attempt {
            id: 10,
            state: "sent",
            attempts: 2,
            next_attempt_ms: None,
            sent_ms: Some(9),
            error: None,
        }),
        AlertOp::Maintenance {
            name: "m".into(),
            check: None,
            start_ms: 100,
            end_ms: 200,
        },
        // A repeat of the same window is recorded once.
        AlertOp::Maintenance {
            name: "m".into(),
            check: None,
            start_ms: 100,
            end_ms: 200,
        },
        AlertOp::Meta {
            key: "instance".into(),
            value: "abc".into(),
        },
    ];
    writer
        .write_now(
            Vec::new(),
            ops.into_iter().map(|o| Op::Alert(Box::new(o))).collect(),
        )
        .unwrap();
    let conn = store.connection().unwrap();
    let open: Vec<i64> = sql::open_alerts(&conn)
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(
        open,
        [1, 3],
        "open ones and one whose all-clear is still owed"
    );
    let pending = sql::pending_notifications(&conn).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].id, pending[0].alert_ids.clone()), (11, vec![3]));
    assert_eq!(sql::last_ids(&conn).unwrap(), (3, 11));
    assert_eq!(
        sql::meta(&conn, "instance").unwrap().as_deref(),
        Some("abc")
    );
    let listed = sql::list_alerts(
        &conn,
        &AlertFilter {
            check: Some("api".into()),
            state: None,
            limit: 10,
        },
    )
    .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1[0].state, "sent");
    assert_eq!(listed[0].1[0].attempts, 2);
    let windows: i64 = conn
        .query_row("SELECT count(*) FROM maintenance_windows", [], |r| r.get(0))
        .unwrap();
    assert_eq!(windows, 1);
}
