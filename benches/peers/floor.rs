//! The floor rows: system-view reads issued directly over one persistent session,
//! with no exporter in between. The bare floor is the least any exporter must ask
//! (the session count and one grouped pass over the activity view); on MariaDB a
//! second floor issues the exporter's own statements, so that the gap between ours
//! and the bare floor splits into what the server spends on the extra views and
//! what the exporter adds.

use mysql_async::prelude::Queryable;

use crate::server::Server;

/// What a floor row issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Floor {
    /// The bare minimum over the same activity view (`PG_FLOOR`, `MARIA_FLOOR`).
    Bare,
    /// The exporter's own statements, as it sends them (MariaDB only).
    OwnSql,
}

impl Floor {
    /// The floors measured on an engine.
    pub fn on(pg: bool) -> &'static [Floor] {
        if pg {
            &[Floor::Bare]
        } else {
            &[Floor::Bare, Floor::OwnSql]
        }
    }

    /// The row's name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Floor::Bare => "floor (direct SQL)",
            Floor::OwnSql => "floor (our SQL, direct)",
        }
    }
}

const PG_FLOOR: [&str; 2] = [
    "SELECT count(*) FROM pg_stat_activity",
    "SELECT datname, usename, application_name, state, count(*), \
            max(extract(epoch FROM now() - state_change)), \
            max(extract(epoch FROM now() - backend_start)), \
            min(xact_start) \
     FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1, 2, 3, 4",
];

const MARIA_FLOOR: &[&str] = &[
    "SELECT count(*) FROM information_schema.processlist",
    "SELECT db, user, command, state, count(*), max(time) \
     FROM information_schema.processlist GROUP BY 1, 2, 3, 4",
];

/// The persistent session a floor reads over, with its statements.
pub enum FloorSession {
    Pg(tokio_postgres::Client, Vec<tokio_postgres::Statement>),
    Maria(mysql_async::Conn, Vec<String>),
}

impl FloorSession {
    pub async fn open(server: &Server, kind: Floor) -> FloorSession {
        match server {
            Server::Pg { cluster, .. } => {
                assert_eq!(kind, Floor::Bare, "no own-SQL floor for PostgreSQL");
                let client = cluster
                    .connect("postgres", "postgres", "bench-floor")
                    .await
                    .expect("floor session");
                let mut statements = Vec::new();
                for sql in PG_FLOOR {
                    statements.push(client.prepare(sql).await.expect("prepare"));
                }
                FloorSession::Pg(client, statements)
            }
            Server::Maria { server: m, .. } => {
                let mut conn = m.connect("root", "", None).await.expect("floor session");
                let statements = match kind {
                    Floor::Bare => MARIA_FLOOR.iter().map(|s| s.to_string()).collect(),
                    Floor::OwnSql => vec![own_maria_batch(&mut conn).await],
                };
                FloorSession::Maria(conn, statements)
            }
        }
    }

    /// One read of the floor.
    pub async fn once(&mut self) {
        match self {
            FloorSession::Pg(client, statements) => {
                for s in statements.iter() {
                    client.query(s, &[]).await.expect("floor query");
                }
            }
            FloorSession::Maria(conn, statements) => {
                for sql in statements.iter() {
                    // Every result set of a multi-statement query, rows and all.
                    conn.query_iter(sql.as_str())
                        .await
                        .expect("floor query")
                        .drop_result()
                        .await
                        .expect("floor rows");
                }
            }
        }
    }

    pub async fn close(self) {
        if let FloorSession::Maria(conn, _) = self {
            let _ = conn.disconnect().await;
        }
    }
}

/// The exporter's read on this server, as one multi-statement query, after the
/// exporter's own session settings: the statements come from the library, so the
/// row follows any change to them. The only place the benchmark uses the library.
async fn own_maria_batch(conn: &mut mysql_async::Conn) -> String {
    use dbconn_exporter::config::Collection;
    use dbconn_exporter::engines::mysql::{detect, sql_for};
    let (version, comment): (String, Option<String>) = conn
        .query_first("SELECT VERSION(), @@version_comment")
        .await
        .expect("server version")
        .expect("a version row");
    let (flavor, v) = detect(&version, comment.as_deref().unwrap_or(""));
    let sql = sql_for(flavor, v, &Collection::default().read_settings());
    for statement in &sql.session_setup {
        conn.query_drop(statement).await.expect("session setup");
    }
    sql.parts()
        .iter()
        .map(|(_, statement)| *statement)
        .collect::<Vec<_>>()
        .join(";\n")
}
