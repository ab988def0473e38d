//! A throwaway PgBouncer (Debian's `pgbouncer` binary) in front of a [`PgCluster`],
//! on a free port, with a generated `pgbouncer.ini` and a plain-text
//! `userlist.txt`: the admin user `admin` (password [`ADMIN_PASSWORD`]) and the
//! application user `postgres` (password [`APP_PASSWORD`]; the cluster trusts it).
//! As root it runs as the `postgres` account: PgBouncer refuses to run as root.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::pg::PgCluster;
use super::proc::{self, RunAs, ScratchDir};

pub const ADMIN_PASSWORD: &str = "admin-pw-7f3k";
pub const APP_PASSWORD: &str = "app-pw";

/// How a test wants its pooler.
#[derive(Clone, Debug)]
pub struct BouncerOptions {
    pub max_client_conn: u32,
    pub pool_size: u32,
    pub pool_mode: &'static str,
    /// More `[databases]` entries, each its own pool, all to the cluster's
    /// `postgres` database.
    pub extra_databases: Vec<String>,
}

impl Default for BouncerOptions {
    fn default() -> Self {
        BouncerOptions {
            max_client_conn: 100,
            pool_size: 20,
            pool_mode: "session",
            extra_databases: Vec::new(),
        }
    }
}

pub struct PgBouncer {
    child: Option<Child>,
    dir: ScratchDir,
    port: u16,
    binary: PathBuf,
    run_as: Option<RunAs>,
}

impl PgBouncer {
    /// Starts PgBouncer in front of `pg` and waits until it accepts logins.
    pub fn start(pg: &PgCluster, options: BouncerOptions) -> PgBouncer {
        let binary = proc::require_binary("pgbouncer", &["/usr/sbin/pgbouncer"]);
        let dir = ScratchDir::new("dbconn-pgbouncer");
        let mut bouncer = PgBouncer {
            child: None,
            dir,
            port: 0,
            binary,
            run_as: RunAs::unprivileged("postgres"),
        };
        for _attempt in 0..5 {
            bouncer.port = proc::free_port();
            bouncer.write_config(pg, &options);
            if bouncer.spawn() {
                return bouncer;
            }
            bouncer.kill();
        }
        panic!("PgBouncer did not start; its log:\n{}", bouncer.log());
    }

    fn write_config(&self, pg: &PgCluster, o: &BouncerOptions) {
        let d = self.dir.path();
        let extra: String = o
            .extra_databases
            .iter()
            .map(|name| {
                format!(
                    "{name} = host=127.0.0.1 port={} dbname=postgres pool_size={}\n",
                    pg.port(),
                    o.pool_size
                )
            })
            .collect();
        let ini = format!(
            "[databases]\n\
             postgres = host=127.0.0.1 port={pg_port} dbname=postgres pool_size={pool_size}\n\
             {extra}\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = plain\n\
             auth_file = {auth}\n\
             admin_users = admin\n\
             pool_mode = {mode}\n\
             max_client_conn = {max}\n\
             logfile = {log}\n\
             server_login_retry = 1\n",
            pg_port = pg.port(),
            pool_size = o.pool_size,
            port = self.port,
            auth = d.join("userlist.txt").display(),
            mode = o.pool_mode,
            max = o.max_client_conn,
            log = self.log_path().display(),
        );
        std::fs::write(d.join("pgbouncer.ini"), ini).expect("write pgbouncer.ini");
        std::fs::write(
            d.join("userlist.txt"),
            format!("\"admin\" \"{ADMIN_PASSWORD}\"\n\"postgres\" \"{APP_PASSWORD}\"\n"),
        )
        .expect("write userlist.txt");
        if let Some(u) = self.run_as {
            u.chown(d);
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("pgbouncer.log")
    }

    /// Runs PgBouncer in the foreground (a child the harness can kill) and waits
    /// until its port answers, or it exits.
    fn spawn(&mut self) -> bool {
        let child = proc::server_command(&self.binary, self.run_as)
            .arg(self.dir.path().join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pgbouncer");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return false;
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops PgBouncer at once, as a crash would.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Starts the stopped PgBouncer again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn(),
            "PgBouncer did not restart; its log:\n{}",
            self.log()
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The exporter's DSN for the admin console, with `password`.
    pub fn admin_dsn(&self, password: &str) -> String {
        format!(
            "pgbouncer://admin:{password}@127.0.0.1:{}/pgbouncer",
            self.port
        )
    }

    async fn login(
        &self,
        user: &str,
        password: &str,
        database: &str,
        application: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        super::pg::connect_local(self.port, user, Some(password), database, application).await
    }

    /// An application client through the pooler to the `postgres` database.
    pub async fn client(
        &self,
        application: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        self.login("postgres", APP_PASSWORD, "postgres", application)
            .await
    }

    /// An application client through the pooler to `database` (one of
    /// [`BouncerOptions::extra_databases`]).
    pub async fn client_to(
        &self,
        database: &str,
        application: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        self.login("postgres", APP_PASSWORD, database, application)
            .await
    }

    /// An admin console session of the test's own (named `watcher`).
    pub async fn admin(&self) -> tokio_postgres::Client {
        self.login("admin", ADMIN_PASSWORD, "pgbouncer", "watcher")
            .await
            .unwrap_or_else(|e| panic!("admin console login: {e}"))
    }

    /// The log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

/// The exporter's sessions on the admin console, as `SHOW CLIENTS` lists them (by
/// application name), from the test's own admin session.
pub async fn exporter_sessions(admin: &tokio_postgres::Client) -> usize {
    let messages = admin
        .simple_query("SHOW CLIENTS")
        .await
        .expect("SHOW CLIENTS");
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .filter(|r| r.try_get("application_name").ok().flatten() == Some("dbconn_exporter"))
        .count()
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        self.kill();
    }
}
