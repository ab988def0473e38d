//! The database under test: a throwaway server, its load, and a watcher session
//! that counts the exporter's sessions. Everything engine-specific about the server
//! lives in this enum's methods; adding an engine means adding a variant here, its
//! contenders (`contenders.rs`) and its floor (`floor.rs`).

use std::fmt::Write as _;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::load::{APPS, Load, MARIA_USERS, USERS, database};
use crate::procfs::{stat_fields, tick_ms, tree_cpu_ticks};
use crate::support::mariadb::{MariaDb, MariaOptions};
use crate::support::pg::{PgCluster, PgOptions};

/// The account both MariaDB exporters use (mysqld_exporter 0.14 insists on a
/// password, and root has none in the harness).
pub const MARIA_EXPORTER: &str = "bench_exporter";
pub const MARIA_EXPORTER_PASSWORD: &str = "bench-pw";

/// `max_connections` of the server for N sessions: PostgreSQL's default of 100 or N
/// plus 100 for the exporters and the watcher, whichever is larger. A server sized
/// for 2,000 sessions makes some reads dearer at every N (`pg_lock_status()` walks
/// a slot per possible backend), and nobody runs 10 sessions on such a server.
pub fn server_size(n: usize) -> usize {
    (n + 100).max(100)
}

pub enum Server {
    Pg {
        cluster: PgCluster,
        watcher: tokio_postgres::Client,
        load: Load<tokio_postgres::Client>,
        postmaster: u32,
    },
    Maria {
        server: MariaDb,
        watcher: mysql_async::Conn,
        load: Load<mysql_async::Conn>,
        pid: u32,
    },
}

impl Server {
    /// A fresh server of the engine sized for `n` sessions.
    pub async fn start(pg: bool, n: usize) -> Server {
        if pg {
            Server::start_pg(server_size(n)).await
        } else {
            Server::start_maria(server_size(n)).await
        }
    }

    async fn start_pg(max: usize) -> Server {
        let cluster = PgCluster::start(PgOptions {
            max_connections: max as u32,
            ..PgOptions::default()
        });
        cluster
            .exec("CREATE ROLE app_rw LOGIN; CREATE ROLE app_ro LOGIN; CREATE ROLE etl LOGIN")
            .await;
        cluster.exec("CREATE DATABASE orders").await;
        cluster.exec("CREATE DATABASE analytics").await;
        let watcher = cluster
            .connect("postgres", "postgres", "bench-watcher")
            .await
            .expect("watcher session");
        let backend: i32 = watcher
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("backend pid")
            .get(0);
        let postmaster = stat_fields(backend as u32).expect("backend stat")[1] as u32;
        Server::Pg {
            cluster,
            watcher,
            load: Load::new(),
            postmaster,
        }
    }

    async fn start_maria(max: usize) -> Server {
        let server = MariaDb::start(MariaOptions {
            max_connections: max as u32,
            ..MariaOptions::default()
        });
        let mut setup = String::from("CREATE DATABASE orders; CREATE DATABASE analytics;");
        for u in MARIA_USERS {
            for host in ["localhost", "127.0.0.1", "%"] {
                write!(
                    setup,
                    "CREATE USER '{u}'@'{host}'; GRANT SELECT ON *.* TO '{u}'@'{host}';"
                )
                .unwrap();
            }
        }
        for host in ["localhost", "127.0.0.1"] {
            write!(
                setup,
                "CREATE USER '{MARIA_EXPORTER}'@'{host}' IDENTIFIED BY '{MARIA_EXPORTER_PASSWORD}'; \
                 GRANT ALL PRIVILEGES ON *.* TO '{MARIA_EXPORTER}'@'{host}';"
            )
            .unwrap();
        }
        server.exec(&setup).await;
        let mut watcher = server.connect("root", "", None).await.expect("watcher");
        let pid_file: String = watcher
            .query_first("SELECT @@pid_file")
            .await
            .expect("pid_file")
            .expect("a pid file");
        let pid = std::fs::read_to_string(&pid_file)
            .expect("read the pid file")
            .trim()
            .parse()
            .expect("a pid");
        Server::Maria {
            server,
            watcher,
            load: Load::new(),
            pid,
        }
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Server::Pg { .. } => "PostgreSQL",
            Server::Maria { .. } => "MariaDB",
        }
    }

    pub async fn version(&mut self) -> String {
        match self {
            Server::Pg { watcher, .. } => watcher
                .query_one("SELECT current_setting('server_version')", &[])
                .await
                .map(|r| r.get::<_, String>(0))
                .unwrap_or_default(),
            Server::Maria { watcher, .. } => watcher
                .query_first::<String, _>("SELECT VERSION()")
                .await
                .ok()
                .flatten()
                .unwrap_or_default(),
        }
    }

    /// The connection string our exporter is given.
    pub fn dsn(&self) -> String {
        match self {
            Server::Pg { cluster, .. } => cluster.superuser_dsn(),
            Server::Maria { server, .. } => server.dsn(MARIA_EXPORTER, MARIA_EXPORTER_PASSWORD),
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            Server::Pg { cluster, .. } => cluster.port(),
            Server::Maria { server, .. } => server.port(),
        }
    }

    /// CPU of the whole server process tree, in ticks.
    pub fn db_cpu_ticks(&self) -> u64 {
        match self {
            Server::Pg { postmaster, .. } => tree_cpu_ticks(*postmaster),
            Server::Maria { pid, .. } => tree_cpu_ticks(*pid),
        }
    }

    /// Grows the load to `n` sessions (sizes only grow), then waits for the server
    /// to settle.
    pub async fn grow(&mut self, n: usize) {
        match self {
            Server::Pg { cluster, load, .. } => {
                load.grow(n, |i| {
                    cluster.connect(USERS[i % USERS.len()], database(i), APPS[i % APPS.len()])
                })
                .await
            }
            Server::Maria { server, load, .. } => {
                load.grow(n, |i| {
                    let user = MARIA_USERS[i % MARIA_USERS.len()];
                    server.connect(user, "", Some(database(i)).filter(|d| *d != "postgres"))
                })
                .await
            }
        }
        // Let the active statements start, and the server settle after opening up to
        // a thousand sessions: the first exporter measured must not pay for them.
        // Quiet means under 5 % of a CPU over half a second (at most 20 s of waiting).
        tokio::time::sleep(Duration::from_millis(500)).await;
        for _ in 0..40 {
            let before = self.db_cpu_ticks();
            tokio::time::sleep(Duration::from_millis(500)).await;
            if (self.db_cpu_ticks() - before) as f64 * tick_ms() < 25.0 {
                break;
            }
        }
    }

    /// Sessions on the server that are neither load nor the watcher: the exporter's.
    pub async fn foreign_sessions(&mut self) -> usize {
        match self {
            Server::Pg { watcher, .. } => {
                let apps: Vec<String> = APPS.iter().map(|s| s.to_string()).collect();
                watcher
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity \
                         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() \
                           AND coalesce(application_name, '') <> ALL($1)",
                        &[&apps],
                    )
                    .await
                    .map(|r| r.get::<_, i64>(0) as usize)
                    .unwrap_or(usize::MAX)
            }
            Server::Maria { watcher, .. } => watcher
                .query_first::<i64, _>(
                    "SELECT count(*) FROM information_schema.processlist \
                     WHERE user = 'bench_exporter'",
                )
                .await
                .ok()
                .flatten()
                .map_or(usize::MAX, |n| n as usize),
        }
    }
}
