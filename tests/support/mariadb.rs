//! Throwaway MariaDB servers, one per test, so that a test can fill one to its
//! `max_connections` without disturbing another.
//!
//! `mariadb-install-db` takes a few seconds, so it runs once into a template datadir
//! that every server copies. As root (CI), the servers run as the `mysql` account.
//! `root@localhost` has no password (TCP from 127.0.0.1 resolves to `localhost`);
//! tests create their own ordinary users.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use super::proc::{self, RunAs, ScratchDir};

#[derive(Clone, Debug)]
pub struct MariaOptions {
    pub max_connections: u32,
    /// Extra `--name=value` server options.
    pub settings: Vec<String>,
}

impl Default for MariaOptions {
    fn default() -> Self {
        MariaOptions {
            max_connections: 100,
            settings: Vec::new(),
        }
    }
}

pub struct MariaDb {
    child: Option<Child>,
    dir: ScratchDir,
    port: u16,
    server: PathBuf,
    run_as: Option<RunAs>,
    options: MariaOptions,
}

fn server_binary() -> PathBuf {
    proc::require_binary("mariadbd", &["/usr/sbin/mariadbd", "/usr/sbin/mysqld"])
}

fn run_as() -> Option<RunAs> {
    RunAs::unprivileged("mysql")
}

/// The installed template datadir, made once and shared by every test process.
fn template(run_as: Option<RunAs>) -> PathBuf {
    let root = std::env::temp_dir().join("dbconn-mariadb-templates");
    let done = root.join("datadir");
    if done.join("mysql").is_dir() && done.join(".complete").is_file() {
        return done;
    }
    std::fs::create_dir_all(&root).expect("create template root");
    // mariadb-install-db runs fail when several start at once: one at a time, and
    // whoever comes second finds the template made.
    let _lock = proc::FileLock::acquire(&root.join("lock"));
    if done.join("mysql").is_dir() && done.join(".complete").is_file() {
        return done;
    }
    let work = root.join(format!("datadir.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("create template dir");
    if let Some(u) = run_as {
        u.chown(&root);
    }
    let install = proc::require_binary(
        "mariadb-install-db",
        &["/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"],
    );
    let mut cmd = std::process::Command::new(install);
    cmd.args([
        "--no-defaults",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
    ])
    .arg(format!("--datadir={}", work.display()));
    if run_as.is_some() {
        cmd.arg("--user=mysql");
    }
    let output = cmd.output().expect("run mariadb-install-db");
    assert!(
        output.status.success(),
        "mariadb-install-db failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(work.join(".complete"), "").expect("mark template");
    if let Some(u) = run_as {
        u.chown(&work);
    }
    let _ = std::fs::remove_dir_all(&done);
    std::fs::rename(&work, &done).expect("move the template into place");
    done
}

impl MariaDb {
    pub fn start(options: MariaOptions) -> MariaDb {
        let run_as = run_as();
        let template = template(run_as);
        let dir = ScratchDir::new("dbconn-mariadb");
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(&template)
            .arg(dir.path().join("data"))
            .status()
            .expect("copy the template datadir");
        assert!(status.success(), "copy the template datadir");
        if let Some(u) = run_as {
            u.chown(dir.path());
        }
        let mut server = MariaDb {
            child: None,
            dir,
            port: 0,
            server: server_binary(),
            run_as,
            options,
        };
        for _attempt in 0..5 {
            server.port = proc::free_port();
            if server.spawn() {
                return server;
            }
            server.kill();
        }
        panic!("MariaDB did not start; its log:\n{}", server.log());
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mariadb.log")
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("mariadb.sock")
    }

    fn spawn(&mut self) -> bool {
        let log = std::fs::File::create(self.log_path()).expect("create log");
        if let Some(u) = self.run_as {
            u.chown(&self.log_path());
        }
        let mut cmd = proc::server_command(&self.server, self.run_as);
        cmd.arg("--no-defaults")
            .arg(format!(
                "--datadir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("mariadb.pid").display()
            ))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg("--skip-log-bin")
            .arg("--innodb-buffer-pool-size=16M")
            .arg("--innodb-log-file-size=16M")
            .arg("--innodb-flush-log-at-trx-commit=0")
            .arg("--skip-innodb-doublewrite")
            .arg("--performance-schema=OFF")
            .arg(format!(
                "--max-connections={}",
                self.options.max_connections
            ))
            .args(&self.options.settings);
        if self.run_as.is_some() {
            cmd.arg("--user=mysql");
        }
        self.child = Some(
            cmd.stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start mariadbd"),
        );
        self.wait_ready()
    }

    /// Waits until the server accepts TCP connections, or exits.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return false;
            }
            if self.log().contains("ready for connections")
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server at once, as a crash would.
    pub fn stop(&mut self) {
        self.kill();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn options(&self) -> &MariaOptions {
        &self.options
    }

    /// The superuser (`root`, no password): it gets MariaDB's extra slot beyond
    /// `max_connections`.
    pub fn root_dsn(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/", self.port)
    }

    pub fn dsn(&self, user: &str, password: &str) -> String {
        format!("mysql://{user}:{password}@127.0.0.1:{}/", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Runs SQL as root.
    pub async fn exec(&self, sql: &str) {
        let mut conn = self
            .connect("root", "", None)
            .await
            .unwrap_or_else(|e| panic!("connect as root: {e}"));
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            conn.query_drop(statement)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        let _ = conn.disconnect().await;
    }

    /// Opens one client session.
    pub async fn connect(
        &self,
        user: &str,
        password: &str,
        database: Option<&str>,
    ) -> Result<mysql_async::Conn, mysql_async::Error> {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .prefer_socket(false)
            .user(Some(user))
            .pass((!password.is_empty()).then_some(password))
            .db_name(database);
        mysql_async::Conn::new(opts).await
    }

    /// Opens sessions as `user` into `held` until a login is refused, and returns
    /// that refusal; fails the test if more than `most` were let in.
    pub async fn fill_until_refused(
        &self,
        user: &str,
        password: &str,
        held: &mut Vec<mysql_async::Conn>,
        most: usize,
    ) -> mysql_async::Error {
        loop {
            match self.connect(user, password, None).await {
                Ok(c) => held.push(c),
                Err(e) => return e,
            }
            assert!(held.len() <= most, "the server never refused a login");
        }
    }

    /// An ordinary account with password `pw`: PROCESS to see every session,
    /// everything on the `shop` database, nothing that grants the extra admin slot;
    /// `limit` is its MAX_USER_CONNECTIONS.
    pub async fn create_user(&self, user: &str, limit: Option<u32>) {
        let limit = limit.map_or(String::new(), |n| format!(" WITH MAX_USER_CONNECTIONS {n}"));
        self.exec(&format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'{limit}; \
             GRANT PROCESS ON *.* TO '{user}'@'%'; \
             GRANT ALL ON shop.* TO '{user}'@'%'"
        ))
        .await;
    }

    /// Creates the `shop` database with `accounts (id, balance)` holding the row `1`,
    /// the row [`MariaDb::hold_row_lock`] locks.
    pub async fn create_shop_with_accounts(&self) {
        self.exec(
            "CREATE DATABASE shop; \
             CREATE TABLE shop.accounts (id INT PRIMARY KEY, balance INT) ENGINE=InnoDB; \
             INSERT INTO shop.accounts VALUES (1, 100)",
        )
        .await;
    }

    /// A session of `user` updates row 1 of `shop.accounts` in an open transaction,
    /// and `waiters` more sessions of `user` queue behind it with an update each.
    pub async fn hold_row_lock(&self, user: &str, password: &str, waiters: usize) -> RowLock {
        let mut holder = self
            .connect(user, password, Some("shop"))
            .await
            .unwrap_or_else(|e| panic!("connect the holder: {e}"));
        holder
            .query_drop("BEGIN")
            .await
            .unwrap_or_else(|e| panic!("BEGIN: {e}"));
        holder
            .query_drop("UPDATE accounts SET balance = balance - 1 WHERE id = 1")
            .await
            .unwrap_or_else(|e| panic!("take the row lock: {e}"));
        let mut waiting = Vec::new();
        for i in 0..waiters {
            let mut c = self
                .connect(user, password, Some("shop"))
                .await
                .unwrap_or_else(|e| panic!("connect waiter {i}: {e}"));
            waiting.push(tokio::spawn(async move {
                let r = c
                    .query_drop("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
                    .await;
                (c, r)
            }));
        }
        RowLock { holder, waiting }
    }

    /// Opens `n` sessions without a default database that stay idle until dropped.
    pub async fn connect_many(
        &self,
        n: usize,
        user: &str,
        password: &str,
    ) -> Vec<mysql_async::Conn> {
        self.connect_many_to(n, user, password, None).await
    }

    /// Opens `n` sessions into `database` that stay idle until dropped.
    pub async fn connect_many_to(
        &self,
        n: usize,
        user: &str,
        password: &str,
        database: Option<&str>,
    ) -> Vec<mysql_async::Conn> {
        let mut held = Vec::with_capacity(n);
        for i in 0..n {
            held.push(
                self.connect(user, password, database)
                    .await
                    .unwrap_or_else(|e| panic!("session {i} of {n} as {user}: {e}")),
            );
        }
        held
    }
}

/// A row lock held in an open transaction, with sessions waiting on it.
pub struct RowLock {
    holder: mysql_async::Conn,
    waiting: Vec<tokio::task::JoinHandle<(mysql_async::Conn, Result<(), mysql_async::Error>)>>,
}

impl RowLock {
    /// Rolls the holder back and waits for every waiter's update to go through.
    pub async fn release(mut self) {
        self.holder
            .query_drop("ROLLBACK")
            .await
            .unwrap_or_else(|e| panic!("roll the holder back: {e}"));
        for w in self.waiting {
            let (_conn, r) = w.await.unwrap_or_else(|e| panic!("waiter task: {e}"));
            r.unwrap_or_else(|e| panic!("the waiter's update failed: {e}"));
        }
    }
}

/// The client sessions the server lists besides the watcher's own (a session closed
/// just before stays listed until its thread has gone).
pub async fn other_sessions(watcher: &mut mysql_async::Conn) -> i64 {
    watcher
        .query_first(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE COMMAND <> 'Daemon' AND USER <> 'system user' AND ID <> CONNECTION_ID()",
        )
        .await
        .expect("count the sessions")
        .unwrap_or(0)
}

/// The transactions InnoDB itself reports as blocking another.
pub async fn blockers(watcher: &mut mysql_async::Conn) -> i64 {
    watcher
        .query_first::<i64, _>(
            "SELECT COUNT(DISTINCT blocking_trx_id) FROM information_schema.INNODB_LOCK_WAITS",
        )
        .await
        .expect("count the blockers")
        .expect("a count")
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.kill();
    }
}
