//! How long one scrape takes as the server fills with idle sessions: the number an
//! on-call engineer needs before pointing the exporter at a server with 1,000
//! connections.
//!
//! Starts a throwaway PostgreSQL or MariaDB (max_connections 1100) and the release
//! exporter, opens N idle sessions, then times sequential GET /metrics round trips
//! (HTTP, exporter read, encoding) and reads the exporter's own
//! `dbconn_scrape_duration_seconds` (the database read alone).
//!
//!     cargo bench --bench scrape_at_scale                      # PostgreSQL, N = 100 and 1000
//!     cargo bench --bench scrape_at_scale -- --mariadb         # the same on MariaDB
//!     cargo bench --bench scrape_at_scale -- 10 500            # other sizes
//!     cargo bench --bench scrape_at_scale -- --sample          # also print a /metrics sample
//!
//! `DBCONN_PG_BINDIR` picks another PostgreSQL, as in the test suite.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use support::exporter::Exporter;
use support::mariadb::{MariaDb, MariaOptions};
use support::pg::{PgCluster, PgOptions};

const SCRAPES: usize = 50;

enum Server {
    Pg(PgCluster, Vec<tokio_postgres::Client>),
    Maria(MariaDb, Vec<mysql_async::Conn>),
}

impl Server {
    fn start(mariadb: bool) -> Server {
        if mariadb {
            Server::Maria(
                MariaDb::start(MariaOptions {
                    max_connections: 1100,
                    ..MariaOptions::default()
                }),
                Vec::new(),
            )
        } else {
            Server::Pg(
                PgCluster::start(PgOptions {
                    max_connections: 1100,
                    ..PgOptions::default()
                }),
                Vec::new(),
            )
        }
    }

    fn dsn(&self) -> String {
        match self {
            Server::Pg(c, _) => c.superuser_dsn(),
            Server::Maria(m, _) => m.root_dsn(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Server::Pg(c, _) => format!("PostgreSQL {}", c.version_num() / 10000),
            Server::Maria(..) => "MariaDB (system mariadbd)".to_string(),
        }
    }

    /// Grows (or shrinks) the idle sessions to `n`.
    async fn idle_sessions(&mut self, n: usize) {
        match self {
            Server::Pg(c, held) => {
                while held.len() < n {
                    let app = format!("app-{}", held.len() % 20);
                    held.push(
                        c.connect("postgres", "postgres", &app)
                            .await
                            .expect("connect"),
                    );
                }
                held.truncate(n);
            }
            Server::Maria(m, held) => {
                while held.len() < n {
                    held.push(m.connect("root", "", None).await.expect("connect"));
                }
                held.truncate(n);
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let sample = args.iter().any(|a| a == "--sample");
    let mariadb = args.iter().any(|a| a == "--mariadb");
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![100, 1000];
    }
    let mut server = Server::start(mariadb);
    let exporter = Exporter::start(&[format!("--target=db={}", server.dsn())]);
    println!(
        "{}, {SCRAPES} sequential scrapes per size",
        server.describe()
    );
    println!(
        "{:>8} {:>10} {:>10} {:>10} {:>12}",
        "idle", "p50 ms", "p95 ms", "max ms", "db read ms"
    );
    for n in sizes {
        server.idle_sessions(n).await;
        // Warm up: statement plans, name caches.
        for _ in 0..5 {
            exporter.scrape_with("/metrics", &[]).await;
        }
        let mut times = Vec::with_capacity(SCRAPES);
        let mut db_read = Vec::with_capacity(SCRAPES);
        for _ in 0..SCRAPES {
            let start = Instant::now();
            let r = exporter.scrape_with("/metrics", &[]).await;
            times.push(start.elapsed());
            assert_eq!(r.status, 200);
            if let Some(v) = r
                .body
                .lines()
                .find(|l| l.starts_with("dbconn_scrape_duration_seconds{"))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
            {
                db_read.push(Duration::from_secs_f64(v));
            }
        }
        times.sort();
        db_read.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:>8} {:>10.2} {:>10.2} {:>10.2} {:>12.2}",
            n,
            ms(times[SCRAPES / 2]),
            ms(times[SCRAPES * 95 / 100]),
            ms(times[SCRAPES - 1]),
            db_read.get(db_read.len() / 2).map_or(f64::NAN, |d| ms(*d)),
        );
    }
    server.idle_sessions(0).await;
    if sample {
        match &server {
            Server::Pg(c, _) => pg_sample(c).await,
            Server::Maria(m, _) => maria_sample(m).await,
        }
        tokio::time::sleep(Duration::from_secs(35)).await;
        let r = exporter.scrape_with("/metrics", &[]).await;
        println!("\n--- /metrics (sample) ---\n{}", r.body);
    }
}

/// Idle, active, idle-in-transaction and blocked sessions on PostgreSQL; the
/// sessions live in tasks that outlast this function.
async fn pg_sample(cluster: &PgCluster) {
    cluster
        .exec("CREATE TABLE IF NOT EXISTS accounts (id int PRIMARY KEY, balance int); INSERT INTO accounts VALUES (1, 100) ON CONFLICT DO NOTHING")
        .await;
    let idle = cluster
        .connect_many(5, "postgres", "postgres", "billing")
        .await;
    let active = cluster
        .connect("postgres", "postgres", "reports")
        .await
        .expect("connect");
    let leaky = cluster
        .connect("postgres", "postgres", "leaky-pool")
        .await
        .expect("connect");
    leaky.batch_execute("BEGIN; SELECT 1").await.expect("begin");
    let holder = cluster
        .connect("postgres", "postgres", "payments")
        .await
        .expect("connect");
    holder
        .batch_execute("BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = 1")
        .await
        .expect("lock the row");
    tokio::spawn(async move {
        let _keep = (idle, leaky, holder);
        let _ = active.simple_query("SELECT pg_sleep(120)").await;
    });
    for _ in 0..2 {
        let w = cluster
            .connect("postgres", "postgres", "payments")
            .await
            .expect("connect");
        tokio::spawn(async move {
            w.batch_execute("UPDATE accounts SET balance = 0 WHERE id = 1")
                .await
        });
    }
}

/// The same situations on MariaDB.
async fn maria_sample(db: &MariaDb) {
    db.exec(
        "CREATE DATABASE IF NOT EXISTS shop; \
         CREATE TABLE IF NOT EXISTS shop.accounts (id INT PRIMARY KEY, balance INT) ENGINE=InnoDB; \
         INSERT IGNORE INTO shop.accounts VALUES (1, 100)",
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..5 {
        idle.push(db.connect("root", "", Some("shop")).await.expect("connect"));
    }
    let mut active = db.connect("root", "", None).await.expect("connect");
    let mut leaky = db.connect("root", "", Some("shop")).await.expect("connect");
    leaky.query_drop("BEGIN").await.expect("begin");
    leaky
        .query_drop("SELECT * FROM accounts")
        .await
        .expect("read");
    let mut holder = db.connect("root", "", Some("shop")).await.expect("connect");
    holder.query_drop("BEGIN").await.expect("begin");
    holder
        .query_drop("UPDATE accounts SET balance = balance - 1 WHERE id = 1")
        .await
        .expect("lock the row");
    tokio::spawn(async move {
        let _keep = (idle, leaky, holder);
        let _ = active.query_drop("SELECT SLEEP(120)").await;
    });
    for _ in 0..2 {
        let mut w = db.connect("root", "", Some("shop")).await.expect("connect");
        tokio::spawn(async move {
            let _ = w
                .query_drop("UPDATE accounts SET balance = 0 WHERE id = 1")
                .await;
        });
    }
}
