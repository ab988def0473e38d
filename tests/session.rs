//! The one session under a slow, locked, silent or impatient world, for real: a
//! latency proxy, a scraper with a tiny deadline, a locked catalog, a login that
//! cannot finish, a network path that goes silent. In each case the exporter must
//! keep reporting for everyone else and never hold more than one connection.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::ConfigFile;
use support::exporter::Exporter;
use support::mariadb::{MariaDb, MariaOptions};
use support::openmetrics;
use support::pg::{self, PgCluster, PgOptions};
use support::proc;
use support::proxy::Proxy;
use support::scrape::{
    FAST_BACKOFF, collector_success, get_within, is_up, scrape_within, start_exporter,
    total_connections, v, value,
};

/// One client scrapes in a loop with a 0.1 ms timeout while ordinary scrapes (10 s)
/// run beside it, for `run`. Returns (ordinary scrapes, those that read the target).
async fn impatient_beside_ordinary(exporter: &Arc<Exporter>, run: Duration) -> (usize, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let impatient = {
        let exporter = Arc::clone(exporter);
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                exporter
                    .scrape_with(
                        "/metrics",
                        &[("X-Prometheus-Scrape-Timeout-Seconds", "0.0001")],
                    )
                    .await;
                n += 1;
            }
            n
        })
    };
    let end = Instant::now() + run;
    let (mut total, mut up) = (0, 0);
    let mut bodies = Vec::new();
    while Instant::now() < end {
        let r = get_within(exporter, "10").await;
        assert_eq!(r.status, 200);
        bodies.push(r.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let impatient_scrapes = impatient.await.unwrap();
    for m in openmetrics::parse_many(&bodies) {
        total += 1;
        if is_up(&m) {
            up += 1;
        }
    }
    println!("{impatient_scrapes} impatient scrapes beside {total} ordinary ones, {up} of them up");
    assert!(impatient_scrapes > 10, "the impatient client barely ran");
    (total, up)
}

/// An exporter reading `upstream` through a proxy adding 30 ms each way, after its
/// first read. `dsn` has `{port}` where the proxy's port goes.
async fn behind_slow_proxy(upstream: u16, dsn: &str) -> (Arc<Exporter>, ConfigFile, Proxy) {
    let proxy = Proxy::start(upstream);
    proxy.set_latency(Duration::from_millis(30));
    let dsn = dsn.replace("{port}", &proxy.port().to_string());
    let (exporter, config) = start_exporter(&dsn, FAST_BACKOFF);
    exporter.scrape_until("the first read", is_up).await;
    (Arc::new(exporter), config, proxy)
}

/// Finding 3: behind 30 ms of latency each way, a scraper with a 0.1 ms deadline
/// blinded nearly every ordinary scrape (315 of 384 reported up 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_deadline_fails_only_its_own_scrape() {
    let cluster = PgCluster::start(PgOptions::default());
    let (exporter, _config, proxy) = behind_slow_proxy(
        cluster.port(),
        "postgres://postgres@127.0.0.1:{port}/postgres",
    )
    .await;
    let (total, up) = impatient_beside_ordinary(&exporter, Duration::from_secs(5)).await;
    assert!(total >= 10, "only {total} ordinary scrapes");
    assert_eq!(up, total, "ordinary scrapes blinded by the impatient one");
    assert_eq!(proxy.accepted(), 1, "the session was replaced");
}

/// Finding 4: a MariaDB read cut at the first scraper's deadline left the protocol
/// out of step ("Packets out of sync"); the exporter dropped its session and
/// reconnected. Reads are never cut now: one connection all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_mariadb_read_keeps_its_session() {
    let db = MariaDb::start(MariaOptions::default());
    let (exporter, _config, proxy) =
        behind_slow_proxy(db.port(), "mysql://root@127.0.0.1:{port}/").await;
    let (total, up) = impatient_beside_ordinary(&exporter, Duration::from_secs(5)).await;
    assert!(total >= 10, "only {total} ordinary scrapes");
    assert_eq!(up, total, "ordinary scrapes lost");
    assert_eq!(proxy.accepted(), 1, "the session was lost and reopened");
    let m = exporter.scrape().await.metrics;
    for reason in ["closed", "hung"] {
        assert_eq!(
            v(&m, "dbconn_session_losses_total", &[("reason", reason)]),
            0.0
        );
    }
    assert!(
        !exporter.logs().contains("out of sync"),
        "{}",
        exporter.logs()
    );
}

/// Finding 5: with pg_database locked, the names and the counters each waited one
/// lock timeout in turn, so a scrape allowed 1.5 s lost even the session counts.
/// Now one part waits, once: the headline arrives within one lock timeout plus a
/// little — on the session's first read (settings not yet known) and later ones.
#[tokio::test]
async fn a_locked_pg_database_costs_one_lock_timeout_at_most() {
    let cluster = PgCluster::start(PgOptions::default());
    cluster.exec("CREATE ROLE app LOGIN").await;
    let _idle = cluster.connect_many(3, "app", "postgres", "app").await;
    let (exporter, _config) = start_exporter(
        &cluster.superuser_dsn(),
        "collection:\n  lock_timeout: 1s\n  statement_timeout: 5s\n",
    );
    let watcher = cluster.superuser_session("watcher").await;
    // The exporter logs in at start; wait for its session, then lock the catalog
    // before its first read.
    // 3 app sessions, the watcher and the exporter, and no other (the harness's
    // set-up session may take a moment to go).
    let deadline = Instant::now() + Duration::from_secs(30);
    while pg::exporter_sessions(&watcher).await != 1 || pg::client_backends(&watcher).await != 5 {
        assert!(Instant::now() < deadline, "the exporter never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let locker = cluster.superuser_session("locker").await;
    locker
        .batch_execute("BEGIN; LOCK TABLE pg_database IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    for read in ["first", "second", "third"] {
        // 1.75 s minus the 250 ms offset: 1.5 s for one lock timeout of 1 s.
        let started = Instant::now();
        let m = scrape_within(&exporter, "1.75").await;
        let took = started.elapsed();
        assert_eq!(
            v(&m, "dbconn_up", &[]),
            1.0,
            "{read} read, {took:?}:\n{}",
            exporter.logs()
        );
        // 3 app sessions, the locker (idle in transaction), the watcher, the
        // exporter.
        assert_eq!(total_connections(&m), 6.0, "{read} read:\n{}", m.text());
        assert_eq!(v(&m, "dbconn_max_connections", &[]), 100.0);
        assert_eq!(collector_success(&m, "names"), 0.0);
        // Up means the read ended within the scrape's own 1.5 s deadline; the
        // wall time (HTTP and a loaded machine included) is only printed.
        println!("{read} read: {took:?}");
    }
    // The failed part is logged with the server's code and message, not "db error".
    assert!(
        exporter.logs().contains("SQLSTATE 55P03"),
        "{}",
        exporter.logs()
    );
    locker.batch_execute("COMMIT").await.unwrap();
    let m = exporter
        .scrape_until("the names again", |m| {
            value(
                m,
                "dbconn_scrape_collector_success",
                &[("collector", "names")],
            ) == Some(1.0)
        })
        .await;
    assert_eq!(collector_success(&m, "database_stats"), 1.0);
}

/// Finding 6: while pg_authid is locked a login cannot finish; each connect the
/// exporter abandoned left a server process waiting (4 extra after 16 s). Now the
/// one attempt is waited for: never more than one backend of the exporter's role,
/// logging-in ones included, and the same attempt becomes the session once the lock
/// goes.
#[tokio::test]
async fn a_login_that_cannot_finish_is_never_repeated_beside() {
    let cluster = PgCluster::start(PgOptions::default());
    // Its backends are counted by process title, among this cluster's processes.
    cluster
        .exec("CREATE ROLE authid_watch LOGIN IN ROLE pg_monitor")
        .await;
    let locker = cluster.superuser_session("locker").await;
    locker
        .batch_execute("BEGIN; LOCK TABLE pg_authid IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let (exporter, _config) = start_exporter(
        &cluster.dsn("authid_watch", "postgres"),
        "collection:\n  connect_timeout: 1s\n  connect_backoff_max: 1s\n",
    );
    let end = Instant::now() + Duration::from_secs(30);
    let mut most = 0;
    let mut samples = 0;
    while Instant::now() < end {
        let m = scrape_within(&exporter, "1").await;
        assert_eq!(v(&m, "dbconn_up", &[]), 0.0);
        most = most.max(cluster.backends_of("authid_watch"));
        samples += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
        most = most.max(cluster.backends_of("authid_watch"));
    }
    println!("{samples} scrapes, at most {most} backends of the exporter's role");
    assert!(most >= 1, "the exporter never tried to log in");
    assert_eq!(
        most, 1,
        "the exporter opened another connection beside one logging in"
    );
    let m = scrape_within(&exporter, "1").await;
    assert_eq!(
        v(&m, "dbconn_connect_errors_total", &[("reason", "timeout")]),
        1.0,
        "one attempt, counted once"
    );
    locker.batch_execute("COMMIT").await.unwrap();
    exporter
        .scrape_until("the waiting login to become the session", is_up)
        .await;
    assert_eq!(cluster.backends_of("authid_watch"), 1);
}

/// Finding 7: a path that goes silent without a reset left the session hanging:
/// `dbconn_up 0` for 35 s, no reconnect, no error counted. Now a session silent for
/// twice the statement timeout is closed and replaced — the exporter never holding
/// two connections — and the loss is counted.
#[tokio::test]
async fn a_silent_path_replaces_the_session_never_two() {
    let cluster = PgCluster::start(PgOptions::default());
    let proxy = Proxy::start(cluster.port());
    let dsn = format!("postgres://postgres@127.0.0.1:{}/postgres", proxy.port());
    let (exporter, _config) = start_exporter(
        &dsn,
        "collection:\n  statement_timeout: 1s\n  lock_timeout: 500ms\n  connect_timeout: 1s\n  connect_backoff_max: 1s\n",
    );
    exporter.scrape_until("the first read", is_up).await;
    // Sample what the exporter holds towards the proxy, all along.
    let pid = exporter.pid();
    let port = proxy.port();
    let stop = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (stop, most) = (Arc::clone(&stop), Arc::clone(&most));
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                most.fetch_max(proc::tcp_connections_to(pid, port), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    proxy.set_frozen(true);
    let started = Instant::now();
    let m = exporter
        .scrape_until("the hung session to be given up", |m| {
            value(m, "dbconn_session_losses_total", &[("reason", "hung")]) == Some(1.0)
        })
        .await;
    println!("hung session given up after {:?}", started.elapsed());
    assert_eq!(v(&m, "dbconn_up", &[]), 0.0);
    // The replacement cannot log in through the silent path either: a timeout.
    exporter
        .scrape_until("the reconnect to time out", |m| {
            value(m, "dbconn_connect_errors_total", &[("reason", "timeout")])
                .is_some_and(|n| n >= 1.0)
        })
        .await;

    proxy.set_frozen(false);
    exporter
        .scrape_until("a working session again", is_up)
        .await;
    stop.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    let most = most.load(Ordering::SeqCst);
    println!(
        "proxy accepted {} connections; the exporter held at most {most} at once",
        proxy.accepted()
    );
    assert_eq!(most, 1, "the exporter held two connections at once");
    assert!(proxy.accepted() >= 2, "the session was never replaced");
}

/// Finding 5 again, with a waiter: a lock held on the pg_locks view made the lock
/// counts and then the blocking read each wait one lock timeout (2 s in all), and
/// a lock on pg_authid costs the names. Each costs one lock timeout at most now.
#[tokio::test]
async fn a_locked_pg_locks_or_pg_authid_costs_one_lock_timeout_at_most() {
    let cluster = PgCluster::start(PgOptions::default());
    let (exporter, _config) = start_exporter(
        &cluster.superuser_dsn(),
        "collection:\n  lock_timeout: 1s\n  statement_timeout: 5s\n",
    );
    exporter.scrape_until("the first read", is_up).await;
    for (relation, part) in [("pg_locks", "locks"), ("pg_authid", "names")] {
        let locker = cluster.superuser_session("locker").await;
        let waiter = cluster.superuser_session("waiter").await;
        locker
            .batch_execute(&format!(
                "BEGIN; LOCK TABLE {relation} IN ACCESS EXCLUSIVE MODE"
            ))
            .await
            .unwrap();
        // A session queued behind the lock: a lock waiter, so that the blocking
        // read is wanted too.
        let waiting = tokio::spawn(async move {
            let _ = waiter
                .simple_query(&format!("SELECT count(*) FROM {relation}"))
                .await;
            waiter
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        for read in 1..=3 {
            // 1.75 s minus the 250 ms offset: 1.5 s for one lock timeout of 1 s.
            let m = scrape_within(&exporter, "1.75").await;
            assert_eq!(
                v(&m, "dbconn_up", &[]),
                1.0,
                "{relation} locked, read {read}:\n{}",
                exporter.logs()
            );
            assert_eq!(
                collector_success(&m, part),
                0.0,
                "{relation} locked, read {read}"
            );
        }
        locker.batch_execute("COMMIT").await.unwrap();
        waiting.await.unwrap();
        exporter
            .scrape_until("every part again", |m| {
                ["locks", "names", "blocking"].iter().all(|c| {
                    value(m, "dbconn_scrape_collector_success", &[("collector", c)]) == Some(1.0)
                })
            })
            .await;
    }
}
