//! The incident read on MariaDB, through the target's one session: the payflow
//! scene (tests/support/payflow_mariadb.rs) read back pid by pid, and the metrics
//! read of the same server counting its root blocker.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use dbconn_exporter::incident::{Options, Scene, SessionRow, analyze};
use dbconn_exporter::model::State;
use dbconn_exporter::target::Target;
use mysql_async::prelude::Queryable;
use support::mariadb::{MariaDb, MariaOptions};
use support::payflow_mariadb::{
    ExporterConnections, MAX_CONNECTIONS, MONITOR, PAYFLOW, PayFlowMariaDb, WAITER_UPDATE,
    target_for,
};
use tokio::time::Instant;

/// The target's incident read, polled until `ready` holds (a result is reused for
/// a while, and a thread's change shows at the next read). Every 250 ms: InnoDB's
/// views refresh only when last read more than 100 ms ago.
async fn scene_until(
    target: &Arc<Target>,
    what: &str,
    ready: impl Fn(&Scene) -> bool,
) -> Arc<Scene> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let result = target
            .incident(Instant::now() + Duration::from_secs(10))
            .await;
        match result {
            Ok(scene) if ready(&scene) => return scene,
            last if Instant::now() >= deadline => panic!("never: {what}; last read: {last:#?}"),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn row(scene: &Scene, pid: i64) -> &SessionRow {
    scene
        .sessions
        .iter()
        .find(|r| r.pid == pid)
        .unwrap_or_else(|| panic!("thread {pid} is not listed: {:#?}", scene.sessions))
}

const ONE_CONNECTION: ExporterConnections = ExporterConnections {
    listed: 1,
    by_program: 1,
    ever: 1,
};

#[tokio::test]
async fn the_scene_names_the_root_blocker_its_waiters_and_every_payflow_thread() {
    let mut p = PayFlowMariaDb::start().await;
    assert_eq!(p.refusal_code(), Some(1040), "{}", p.refusal);
    assert_eq!(p.exporter_connections().await, ONE_CONNECTION);

    let scene = scene_until(&p.target, "the waiters name the root blocker", |s| {
        p.waiter_ids.iter().all(|w| {
            s.sessions
                .iter()
                .any(|r| r.pid == *w && r.blocked_by.contains(&p.root_blocker_id))
        })
    })
    .await;

    // Who waits for whom: each waiter names the root blocker (and possibly a waiter
    // queued ahead of it), and the root blocker waits for nobody.
    for w in &p.waiter_ids {
        let waiter = row(&scene, *w);
        assert_eq!(waiter.state, Some(State::Active), "{waiter:#?}");
        assert!(
            waiter
                .blocked_by
                .iter()
                .all(|b| *b == p.root_blocker_id || p.waiter_ids.contains(b)),
            "{waiter:#?}"
        );
    }
    let root = row(&scene, p.root_blocker_id);
    assert!(root.blocked_by.is_empty(), "{root:#?}");
    assert_eq!(root.state, Some(State::IdleInTransaction));
    assert!(root.transaction_seconds.is_some(), "{root:#?}");

    // Every payflow thread is listed by the id it saw as CONNECTION_ID().
    let listed: HashSet<i64> = scene.sessions.iter().map(|r| r.pid).collect();
    for id in p.payflow_ids() {
        assert!(listed.contains(&id), "payflow thread {id} missing");
        let r = row(&scene, id);
        assert_eq!(r.user, PAYFLOW);
        assert_eq!(r.application, PAYFLOW);
        assert_eq!(r.database, "pay");
        // The host without its port; the server names 127.0.0.1 "localhost".
        assert_eq!(r.client, "localhost");
        assert!(!r.superuser && !r.replication && !r.own, "{r:#?}");
    }
    for id in &p.idle_in_transaction_ids {
        let r = row(&scene, *id);
        assert_eq!(r.state, Some(State::IdleInTransaction), "{r:#?}");
        assert!(r.transaction_seconds.is_some(), "{r:#?}");
        assert!(r.blocked_by.is_empty());
    }
    for id in &p.idle_ids {
        let r = row(&scene, *id);
        assert_eq!(r.state, Some(State::Idle), "{r:#?}");
        assert_eq!(r.transaction_seconds, None);
    }

    // Exactly one row is the exporter's own, with its program name.
    let own: Vec<&SessionRow> = scene.sessions.iter().filter(|r| r.own).collect();
    assert_eq!(own.len(), 1, "{own:#?}");
    assert_eq!(own[0].pid, p.exporter_id);
    assert_eq!(own[0].user, MONITOR);
    assert_eq!(own[0].application, "dbconn_exporter");
    assert_eq!(own[0].state, Some(State::Active));

    // The root console: a superuser, never offered for termination.
    let console = row(&scene, p.watcher_id);
    assert!(console.superuser, "{console:#?}");
    assert_eq!(console.user, "root");

    // The usage the scene shows is the metrics' own: every client thread, and the
    // server is full.
    assert_eq!(scene.sessions.len(), MAX_CONNECTIONS as usize);
    assert_eq!(
        scene.snapshot.sessions.by_state.total(),
        MAX_CONNECTIONS as u64
    );
    assert_eq!(scene.snapshot.usage_ratio(), Some(1.0));
    assert_eq!(scene.engine, dbconn_exporter::model::Engine::MariaDb);
    assert!(scene.version.contains("MariaDB"), "{}", scene.version);
    // Statement text is off by default.
    assert!(scene.sessions.iter().all(|r| r.query.is_none()));
    // Every part was readable: nothing to note.
    assert!(scene.notes.is_empty(), "{:#?}", scene.notes);

    // The metrics read counts one root blocker.
    let report = p
        .target
        .report(Instant::now() + Duration::from_secs(10))
        .await;
    let blocking = report
        .snapshot()
        .and_then(|s| s.blocking.clone())
        .expect("the blocking part of the metrics read");
    assert_eq!(blocking.root_blockers, 1, "{blocking:?}");
    assert_eq!(blocking.blocked, 3, "{blocking:?}");

    // One connection throughout: listed once now, and the only one `monitor` ever
    // opened.
    assert_eq!(p.exporter_connections().await, ONE_CONNECTION);
    p.release().await;
}

#[tokio::test]
async fn statement_text_is_truncated_when_enabled() {
    let mut p = PayFlowMariaDb::start().await;
    let first = scene_until(&p.target, "a first read", |_| true).await;
    assert!(first.sessions.iter().all(|r| r.query.is_none()));

    let mut settings = p.settings.clone();
    settings.query_text = Some(10);
    p.reconfigure(settings);
    let truncated = &WAITER_UPDATE[..10];
    let scene = scene_until(&p.target, "the waiters' statements, truncated", |s| {
        p.waiter_ids.iter().all(|w| {
            s.sessions
                .iter()
                .any(|r| r.pid == *w && r.query.as_deref() == Some(truncated))
        })
    })
    .await;
    // A sleeping thread runs no statement; the exporter's own is its thread list.
    for id in &p.idle_ids {
        assert_eq!(row(&scene, *id).query, None);
    }
    let own = scene.sessions.iter().find(|r| r.own).expect("the own row");
    assert_eq!(own.query.as_deref(), Some("SELECT p.I"));
    // The setting changed on the same session.
    assert_eq!(p.exporter_connections().await, ONE_CONNECTION);
    p.release().await;
}

/// A session of `user` into `shop` that updates row `id` in a transaction it leaves
/// open, and its thread id.
async fn hold_row(db: &MariaDb, user: &str, id: i64) -> (mysql_async::Conn, i64) {
    let mut c = db
        .connect(user, "pw", Some("shop"))
        .await
        .unwrap_or_else(|e| panic!("connect {user}: {e}"));
    let thread: i64 = c
        .query_first("SELECT CONNECTION_ID()")
        .await
        .expect("CONNECTION_ID()")
        .expect("a connection id");
    for statement in [
        "BEGIN".to_string(),
        format!("UPDATE accounts SET balance = balance - 1 WHERE id = {id}"),
    ] {
        c.query_drop(&statement)
            .await
            .unwrap_or_else(|e| panic!("{user}: {statement}: {e}"));
    }
    (c, thread)
}

/// A session of `app` that waits to update row `id`, and its thread id.
async fn wait_on_row(
    db: &MariaDb,
    id: i64,
) -> (tokio::task::JoinHandle<Result<(), mysql_async::Error>>, i64) {
    let mut c = db
        .connect("app", "pw", Some("shop"))
        .await
        .unwrap_or_else(|e| panic!("connect a waiter: {e}"));
    let thread: i64 = c
        .query_first("SELECT CONNECTION_ID()")
        .await
        .expect("CONNECTION_ID()")
        .expect("a connection id");
    let task = tokio::spawn(async move {
        c.query_drop(format!(
            "UPDATE accounts SET balance = balance + 1 WHERE id = {id}"
        ))
        .await
    });
    (task, thread)
}

/// Whether any relief statement of the report names thread `id`.
fn offered(report: &dbconn_exporter::incident::Report, id: i64) -> bool {
    report.relief.iter().any(|r| {
        r.pids.contains(&id)
            || r.sql.iter().any(|s| {
                s.contains(&format!("KILL {id};")) || s.contains(&format!("KILL QUERY {id};"))
            })
    })
}

/// SUPER through a default role (`rt_u`), SUPER two roles down (`rt_deep`), and
/// CONNECTION ADMIN through a role never activated (`rt_conn_u`): each is a
/// superuser, and a root blocker of theirs is offered for no `KILL`, while an
/// ordinary user's root blocker (`app`, whose own role grants nothing of the kind)
/// is. Without a read of the role grants nobody is offered at all.
#[tokio::test]
async fn a_superuser_through_roles_is_never_offered_for_termination() {
    let db = MariaDb::start(MariaOptions::default());
    db.exec(
        "CREATE DATABASE shop; \
         CREATE TABLE shop.accounts (id INT PRIMARY KEY, balance INT) ENGINE=InnoDB; \
         INSERT INTO shop.accounts VALUES (1, 100), (2, 100), (3, 100); \
         CREATE USER 'monitor'@'%' IDENTIFIED BY 'pw'; \
         GRANT PROCESS ON *.* TO 'monitor'@'%'; \
         GRANT SELECT ON mysql.global_priv TO 'monitor'@'%'; \
         GRANT SELECT ON mysql.roles_mapping TO 'monitor'@'%'; \
         CREATE USER 'blind'@'%' IDENTIFIED BY 'pw'; \
         GRANT PROCESS ON *.* TO 'blind'@'%'; \
         GRANT SELECT ON mysql.global_priv TO 'blind'@'%'; \
         CREATE ROLE rt_admin; \
         GRANT SUPER ON *.* TO rt_admin; \
         CREATE USER 'rt_u'@'%' IDENTIFIED BY 'pw'; \
         GRANT ALL ON shop.* TO 'rt_u'@'%'; \
         GRANT rt_admin TO 'rt_u'@'%'; \
         SET DEFAULT ROLE rt_admin FOR 'rt_u'@'%'; \
         CREATE ROLE rt_mid; \
         GRANT rt_admin TO rt_mid; \
         CREATE ROLE rt_top; \
         GRANT rt_mid TO rt_top; \
         CREATE USER 'rt_deep'@'%' IDENTIFIED BY 'pw'; \
         GRANT ALL ON shop.* TO 'rt_deep'@'%'; \
         GRANT rt_top TO 'rt_deep'@'%'; \
         SET DEFAULT ROLE rt_top FOR 'rt_deep'@'%'; \
         CREATE ROLE rt_conn; \
         GRANT CONNECTION ADMIN ON *.* TO rt_conn; \
         CREATE USER 'rt_conn_u'@'%' IDENTIFIED BY 'pw'; \
         GRANT rt_conn TO 'rt_conn_u'@'%'; \
         CREATE ROLE rt_reader; \
         GRANT SELECT ON shop.* TO rt_reader; \
         CREATE USER 'app'@'%' IDENTIFIED BY 'pw'; \
         GRANT ALL ON shop.* TO 'app'@'%'; \
         GRANT rt_reader TO 'app'@'%'; \
         SET DEFAULT ROLE rt_reader FOR 'app'@'%'",
    )
    .await;
    let (target, _, _) = target_for(&db.dsn(MONITOR, "pw"));
    let (blind, _, _) = target_for(&db.dsn("blind", "pw"));

    let (mut u, u_id) = hold_row(&db, "rt_u", 1).await;
    // The role is in force in the root blocker's own session.
    let role: Option<String> = u
        .query_first("SELECT CURRENT_ROLE()")
        .await
        .expect("CURRENT_ROLE()")
        .flatten();
    assert_eq!(role.as_deref(), Some("rt_admin"));
    let (mut deep, deep_id) = hold_row(&db, "rt_deep", 2).await;
    let (mut ordinary, ordinary_id) = hold_row(&db, "app", 3).await;
    let conn_u = db
        .connect("rt_conn_u", "pw", None)
        .await
        .unwrap_or_else(|e| panic!("connect rt_conn_u: {e}"));
    let mut waiters = Vec::new();
    for row in [1, 2, 3] {
        waiters.push(wait_on_row(&db, row).await);
    }
    let waiter_ids: Vec<i64> = waiters.iter().map(|(_, id)| *id).collect();
    let roots = [u_id, deep_id, ordinary_id];
    let all_wait = |s: &Scene| {
        waiter_ids.iter().zip(roots).all(|(w, root)| {
            s.sessions
                .iter()
                .any(|r| r.pid == *w && r.blocked_by == [root])
        })
    };

    let scene = scene_until(&target, "each waiter waits on its root blocker", all_wait).await;
    assert!(scene.superusers_known, "{:#?}", scene.notes);
    let superusers: HashSet<&str> = scene
        .sessions
        .iter()
        .filter(|r| r.superuser)
        .map(|r| r.user.as_str())
        .collect();
    assert_eq!(
        superusers,
        HashSet::from(["rt_u", "rt_deep", "rt_conn_u"]),
        "{:#?}",
        scene.sessions
    );
    let report = analyze("roles", &scene, &Options::default());
    let root_relief: Vec<&Vec<i64>> = report
        .relief
        .iter()
        .filter(|r| r.id == "terminate_root_blocker")
        .map(|r| &r.pids)
        .collect();
    // The ordinary root blocker is offered: the relief is there to be withheld.
    assert_eq!(root_relief, [&vec![ordinary_id]], "{:#?}", report.relief);
    assert!(!offered(&report, u_id), "{:#?}", report.relief);
    assert!(!offered(&report, deep_id), "{:#?}", report.relief);
    // Both superusers' trees are still shown.
    let listed: HashSet<i64> = report.root_blockers.iter().map(|r| r.pid).collect();
    assert_eq!(listed, HashSet::from(roots), "{:#?}", report.root_blockers);

    // An account that may read the privileges but not the role grants cannot tell
    // superusers apart, and says which table it needs.
    let scene = scene_until(&blind, "each waiter waits on its root blocker", all_wait).await;
    assert!(!scene.superusers_known);
    assert!(scene.sessions.iter().all(|r| !r.superuser));
    let notes = scene.notes.join("\n");
    assert!(notes.contains("Superusers are not known"), "{notes}");
    assert!(
        notes.contains("mysql.global_priv and mysql.roles_mapping"),
        "{notes}"
    );
    let report = analyze("roles", &scene, &Options::default());
    assert!(report.relief.is_empty(), "{:#?}", report.relief);

    for (c, who) in [
        (&mut u, "rt_u"),
        (&mut deep, "rt_deep"),
        (&mut ordinary, "app"),
    ] {
        c.query_drop("ROLLBACK")
            .await
            .unwrap_or_else(|e| panic!("roll {who} back: {e}"));
    }
    for (task, id) in waiters {
        task.await
            .unwrap_or_else(|e| panic!("waiter {id}: {e}"))
            .unwrap_or_else(|e| panic!("waiter {id}'s update: {e}"));
    }
    drop(conn_u);
}

/// An account with no PROCESS, no read of `mysql.user`, on a server without
/// performance_schema: the scene lists the account's own threads, and each thing
/// it could not read is a note naming what is missing.
#[tokio::test]
async fn without_privileges_the_scene_lists_its_own_threads_and_says_why() {
    let db = MariaDb::start(MariaOptions::default());
    db.exec(
        "CREATE USER 'monitor'@'%' IDENTIFIED BY 'pw'; \
         CREATE USER 'app'@'%' IDENTIFIED BY 'pw'",
    )
    .await;
    let _app = db.connect_many(2, "app", "pw").await;
    let _sibling = db.connect("monitor", "pw", None).await.unwrap();
    let (target, _, _) = target_for(&db.dsn(MONITOR, "pw"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let scene = loop {
        let scene = target
            .incident(Instant::now() + Duration::from_secs(10))
            .await
            .expect("the incident read");
        // The exporter, its account's other session, and the two app sessions
        // counted as hidden (the harness's own session may still be closing).
        if scene.snapshot.sessions.by_state.total() == 4 {
            break scene;
        }
        assert!(Instant::now() < deadline, "{scene:#?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(scene.sessions.len(), 2, "{:#?}", scene.sessions);
    assert!(scene.sessions.iter().all(|r| r.user == MONITOR));
    assert_eq!(scene.sessions.iter().filter(|r| r.own).count(), 1);
    assert_eq!(
        scene.snapshot.sessions.by_state.get(State::Other),
        2,
        "the app sessions, hidden"
    );
    assert!(scene.sessions.iter().all(|r| !r.superuser));
    let notes = scene.notes.join("\n");
    assert!(notes.contains("GRANT PROCESS ON *.*"), "{notes}");
    assert!(notes.contains("performance_schema"), "{notes}");
    assert!(notes.contains("Superusers are not known"), "{notes}");
    assert!(
        notes.contains("SELECT on mysql.global_priv and mysql.roles_mapping"),
        "{notes}"
    );
    assert_eq!(scene.notes.len(), 3, "{notes}");
}
