//! Throwaway PostgreSQL clusters, one per test, so that a test can fill a server to
//! its limit without disturbing another.
//!
//! `initdb` is slow (about a second), so it runs once per PostgreSQL installation
//! into a template directory that every cluster copies. The binaries come from
//! `DBCONN_PG_BINDIR` (how the multi-version runs pick a major) or else the newest
//! `/usr/lib/postgresql/*/bin`. As root, the servers run as the `postgres` account.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::proc::{self, RunAs, ScratchDir};

/// How a test wants its cluster.
#[derive(Clone, Debug)]
pub struct PgOptions {
    pub max_connections: u32,
    pub superuser_reserved_connections: u32,
    /// Extra `-c name=value` settings.
    pub settings: Vec<(String, String)>,
    /// Require passwords (SCRAM) over TCP for every role but `postgres`, which the
    /// harness itself uses; otherwise everything is trusted.
    pub password_auth: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 100,
            superuser_reserved_connections: 3,
            settings: Vec::new(),
            password_auth: false,
        }
    }
}

pub struct PgCluster {
    child: Option<Child>,
    dir: ScratchDir,
    port: u16,
    major: u32,
    bindir: PathBuf,
    run_as: Option<RunAs>,
    options: PgOptions,
}

/// The PostgreSQL binaries the suite runs against.
pub fn bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DBCONN_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("postgres").is_file(),
            "DBCONN_PG_BINDIR={} has no `postgres` binary",
            dir.display()
        );
        return dir;
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): run scripts/setup.sh"
        ),
    }
}

fn run_as() -> Option<RunAs> {
    RunAs::unprivileged("postgres")
}

/// The initdb'd template for these binaries, made once and shared by every test
/// process (made under a private name, then renamed into place atomically).
fn template(bindir: &Path, run_as: Option<RunAs>) -> PathBuf {
    let key: u64 = bindir
        .to_string_lossy()
        .bytes()
        .fold(1469598103934665603u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(1099511628211)
        });
    let root = std::env::temp_dir().join("dbconn-pg-templates");
    let done = root.join(format!("{key:016x}"));
    if done.join("PG_VERSION").is_file() {
        return done;
    }
    std::fs::create_dir_all(&root).expect("create template root");
    let work = root.join(format!("{key:016x}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("create template dir");
    if let Some(u) = run_as {
        u.chown(&root);
        u.chown(&work);
    }
    let output = proc::server_command(&bindir.join("initdb"), run_as)
        .arg("-D")
        .arg(&work)
        .args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .output()
        .expect("run initdb");
    assert!(
        output.status.success(),
        "initdb failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if std::fs::rename(&work, &done).is_err() {
        // Another test process won the race; use its template.
        let _ = std::fs::remove_dir_all(&work);
    }
    done
}

impl PgCluster {
    /// Starts a cluster and waits until it accepts connections.
    pub fn start(options: PgOptions) -> PgCluster {
        let bindir = bindir();
        let run_as = run_as();
        let template = template(&bindir, run_as);
        let major: u32 = std::fs::read_to_string(template.join("PG_VERSION"))
            .expect("read PG_VERSION")
            .trim()
            .parse()
            .expect("PG_VERSION is a number");
        let dir = ScratchDir::new("dbconn-pg");
        let data = dir.path().join("data");
        let status = Command::new("cp")
            .arg("-a")
            .arg(&template)
            .arg(&data)
            .status()
            .expect("copy the template cluster");
        assert!(status.success(), "copy the template cluster");
        if options.password_auth {
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\n\
                 host all postgres 127.0.0.1/32 trust\n\
                 host all all 127.0.0.1/32 scram-sha-256\n",
            )
            .expect("write pg_hba.conf");
        }
        if let Some(u) = run_as {
            u.chown(dir.path());
        }
        let mut cluster = PgCluster {
            child: None,
            dir,
            port: 0,
            major,
            bindir,
            run_as,
            options,
        };
        cluster.launch();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// Starts the postmaster on a free port (trying again with another port if the
    /// one picked was taken meanwhile).
    fn launch(&mut self) {
        for _attempt in 0..5 {
            self.port = proc::free_port();
            let log = std::fs::File::create(self.log_path()).expect("create log");
            if self.spawn(log) {
                return;
            }
            self.kill();
        }
        panic!("PostgreSQL did not start; its log:\n{}", self.log());
    }

    /// Spawns the postmaster on `self.port` and waits until it is ready.
    fn spawn(&mut self, log: std::fs::File) -> bool {
        if let Some(u) = self.run_as {
            u.chown(&self.log_path());
        }
        let _ = std::fs::remove_file(self.data().join("postmaster.pid"));
        let mut cmd = proc::server_command(&self.bindir.join("postgres"), self.run_as);
        cmd.arg("-D").arg(self.data());
        let o = &self.options;
        let mut settings: Vec<(String, String)> = vec![
            ("port".into(), self.port.to_string()),
            ("listen_addresses".into(), "127.0.0.1".into()),
            (
                "unix_socket_directories".into(),
                self.dir.path().display().to_string(),
            ),
            ("max_connections".into(), o.max_connections.to_string()),
            (
                "superuser_reserved_connections".into(),
                o.superuser_reserved_connections.to_string(),
            ),
            ("fsync".into(), "off".into()),
            ("synchronous_commit".into(), "off".into()),
            ("full_page_writes".into(), "off".into()),
            ("shared_buffers".into(), "16MB".into()),
            // PostgreSQL 13 still stores md5 hashes by default, which the
            // scram-sha-256 lines of pg_hba.conf would then refuse.
            ("password_encryption".into(), "scram-sha-256".into()),
        ];
        settings.extend(o.settings.iter().cloned());
        for (k, v) in settings {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start postgres");
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits for the postmaster to write "ready" into postmaster.pid (line 8), or to
    /// exit.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return false;
            }
            if let Ok(pid) = std::fs::read_to_string(self.data().join("postmaster.pid"))
                && pid.lines().nth(7).is_some_and(|l| l.trim() == "ready")
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Immediate shutdown: nothing here needs to survive.
            proc::signal(child.id(), libc::SIGQUIT);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Stops the server (immediate shutdown), as an outage would.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Starts the stopped server again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.log_path())
            .expect("open log");
        assert!(
            self.spawn(log),
            "PostgreSQL did not restart; its log:\n{}",
            self.log()
        );
    }

    /// Backends of `role` on this cluster, counted by process, logging in or not.
    pub fn backends_of(&self, role: &str) -> usize {
        let postmaster = self
            .child
            .as_ref()
            .map(|c| c.id())
            .expect("the cluster runs");
        proc::postgres_backends_of(postmaster, role)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    /// The server's major version times 10000, comparable with `server_version_num`.
    pub fn version_num(&self) -> u32 {
        self.major * 10000
    }

    pub fn superuser_dsn(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn dsn(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs SQL as the superuser on the `postgres` database.
    pub async fn exec(&self, sql: &str) {
        let client = self.superuser_session("harness").await;
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| match e.as_db_error() {
                Some(db) => panic!("{sql}: {}", db.message()),
                None => panic!("{sql}: {e}"),
            });
    }

    /// Opens one client session; its connection task runs on the test's runtime.
    /// A session of the superuser on the `postgres` database: the tests' own
    /// watchers, lockers and waiters.
    pub async fn superuser_session(&self, application: &str) -> tokio_postgres::Client {
        self.connect("postgres", "postgres", application)
            .await
            .unwrap_or_else(|e| panic!("connect as postgres ({application}): {e}"))
    }

    pub async fn connect(
        &self,
        user: &str,
        database: &str,
        application: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        connect_local(self.port, user, None, database, application).await
    }

    /// Opens `n` sessions that stay idle until dropped.
    pub async fn connect_many(
        &self,
        n: usize,
        user: &str,
        database: &str,
        application: &str,
    ) -> Vec<tokio_postgres::Client> {
        let mut held = Vec::with_capacity(n);
        for i in 0..n {
            held.push(
                self.connect(user, database, application)
                    .await
                    .unwrap_or_else(|e| panic!("session {i} of {n} as {user}: {e}")),
            );
        }
        held
    }

    /// Opens sessions as `user` into `held` until a login is refused, and returns
    /// that refusal; fails the test if more than `most` were let in.
    pub async fn fill_until_refused(
        &self,
        user: &str,
        held: &mut Vec<tokio_postgres::Client>,
        most: usize,
    ) -> tokio_postgres::Error {
        loop {
            match self.connect(user, "postgres", "filler").await {
                Ok(c) => held.push(c),
                Err(e) => return e,
            }
            assert!(held.len() <= most, "the server never refused a login");
        }
    }

    /// Creates `accounts (id, balance)` with the row `1` in the `postgres` database,
    /// the row [`PgCluster::hold_row_lock`] locks.
    pub async fn create_accounts(&self) {
        self.exec(
            "CREATE TABLE accounts (id int PRIMARY KEY, balance int); \
             INSERT INTO accounts VALUES (1, 100)",
        )
        .await;
    }

    /// A session of `user` (named `holder`) updates row 1 of `accounts` in an open
    /// transaction, and one session per name in `waiters` queues behind it with an
    /// update of its own.
    pub async fn hold_row_lock(&self, user: &str, holder: &str, waiters: &[&str]) -> RowLock {
        let holder = self
            .connect(user, "postgres", holder)
            .await
            .unwrap_or_else(|e| panic!("connect the holder: {e}"));
        holder
            .batch_execute("BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = 1")
            .await
            .unwrap_or_else(|e| panic!("take the row lock: {e}"));
        let mut waiting = Vec::new();
        for name in waiters {
            let c = self
                .connect(user, "postgres", name)
                .await
                .unwrap_or_else(|e| panic!("connect waiter {name}: {e}"));
            waiting.push(tokio::spawn(async move {
                c.batch_execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
                    .await
            }));
        }
        RowLock { holder, waiting }
    }

    /// The server log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

/// A row lock held in an open transaction, with sessions waiting on it.
pub struct RowLock {
    holder: tokio_postgres::Client,
    waiting: Vec<tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>>,
}

impl RowLock {
    /// Rolls the holder back and waits for every waiter's update to go through.
    pub async fn release(self) {
        self.holder
            .batch_execute("ROLLBACK")
            .await
            .unwrap_or_else(|e| panic!("roll the holder back: {e}"));
        for w in self.waiting {
            w.await
                .unwrap_or_else(|e| panic!("waiter task: {e}"))
                .unwrap_or_else(|e| panic!("the waiter's update failed: {e}"));
        }
    }
}

/// Counts the exporter's sessions as the server sees them, through the function,
/// not the pg_stat_activity view: the view joins pg_database, which some tests keep
/// locked.
pub async fn exporter_sessions(watcher: &tokio_postgres::Client) -> i64 {
    watcher
        .query_one(
            "SELECT count(*) FROM pg_stat_get_activity(NULL) WHERE application_name = 'dbconn_exporter'",
            &[],
        )
        .await
        .expect("count the exporter's sessions")
        .get(0)
}

/// Client backends the server lists (every session, whatever its role).
pub async fn client_backends(watcher: &tokio_postgres::Client) -> i64 {
    watcher
        .query_one(
            "SELECT count(*) FROM pg_stat_get_activity(NULL) WHERE backend_type = 'client backend'",
            &[],
        )
        .await
        .expect("count the client backends")
        .get(0)
}

/// The sessions PostgreSQL itself names as blocking another (`pg_blocking_pids`).
pub async fn blockers(watcher: &tokio_postgres::Client) -> i64 {
    watcher
        .query_one(
            "SELECT count(DISTINCT b) FROM pg_stat_activity, unnest(pg_blocking_pids(pid)) b",
            &[],
        )
        .await
        .expect("count the blockers")
        .get(0)
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A client on 127.0.0.1:`port` without TLS (a cluster, or a pooler in front of
/// one), its connection driven by a task of its own.
pub async fn connect_local(
    port: u16,
    user: &str,
    password: Option<&str>,
    database: &str,
    application: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user(user)
        .dbname(database)
        .application_name(application)
        .connect_timeout(Duration::from_secs(10));
    if let Some(password) = password {
        config.password(password);
    }
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}
