//! The parse on outputs captured from PgBouncer 1.18 (Debian 12) with two clients
//! on a server and two waiting, and on the columns newer releases add or rename.

use super::*;

const POOLS_1_18: &str = "
 database  |   user    | cl_active | cl_waiting | cl_active_cancel_req | cl_waiting_cancel_req | sv_active | sv_active_cancel | sv_being_canceled | sv_idle | sv_used | sv_tested | sv_login | maxwait | maxwait_us | pool_mode
-----------+-----------+-----------+------------+----------------------+-----------------------+-----------+------------------+-------------------+---------+---------+-----------+----------+---------+------------+-----------
 pgbouncer | pgbouncer |         1 |          0 |                    0 |                     0 |         0 |                0 |                 0 |       0 |       0 |         0 |        0 |       0 |          0 | statement
 postgres  | postgres  |         2 |          2 |                    0 |                     0 |         2 |                0 |                 0 |       0 |       0 |         0 |        0 |       1 |     974878 | session
(2 rows)
";

const DATABASES_1_18: &str = "
   name    |   host    | port  | database  | force_user | pool_size | min_pool_size | reserve_pool | pool_mode | max_connections | current_connections | paused | disabled
-----------+-----------+-------+-----------+------------+-----------+---------------+--------------+-----------+-----------------+---------------------+--------+----------
 pgbouncer |           | 56432 | pgbouncer | pgbouncer  |         2 |             0 |            0 | statement |               5 |                   0 |      0 |        0
 postgres  | 127.0.0.1 | 55432 | postgres  |            |         2 |             0 |            1 |           |               5 |                   2 |      0 |        0
(2 rows)
";

const LISTS_1_18: &str = "
     list      | items
---------------+-------
 databases     |     2
 users         |     3
 pools         |     2
 free_clients  |    45
 used_clients  |     5
 login_clients |     0
 free_servers  |    48
 used_servers  |     2
 dns_names     |     0
 dns_zones     |     0
 dns_queries   |     0
 dns_pending   |     0
(12 rows)
";

const CLIENTS_1_18: &str = "
 type |   user   | database  |  state  |   addr    | port  | local_addr | local_port |      connect_time       |      request_time       | wait | wait_us | close_needed |      ptr       |      link      | remote_pid | tls | application_name
------+----------+-----------+---------+-----------+-------+------------+------------+-------------------------+-------------------------+------+---------+--------------+----------------+----------------+------------+-----+------------------
 C    | admin    | pgbouncer | active  | 127.0.0.1 | 55250 | 127.0.0.1  |      56432 | 2026-11-24 07:55:48 UTC | 2026-11-24 07:55:48 UTC |    0 |       0 |            0 | 0x5572739cd220 |                |          0 |     | psql
 C    | postgres | postgres  | active  | 127.0.0.1 | 55162 | 127.0.0.1  |      56432 | 2026-11-24 07:55:46 UTC | 2026-11-24 07:55:46 UTC |    2 |   74115 |            0 | 0x5572739cc8a0 | 0x5572739d3f80 |          0 |     | psql
 C    | postgres | postgres  | active  | 127.0.0.1 | 55176 | 127.0.0.1  |      56432 | 2026-11-24 07:55:46 UTC | 2026-11-24 07:55:46 UTC |    2 |   74115 |            0 | 0x5572739ccb00 | 0x5572739d41e0 |          0 |     | psql
 C    | postgres | postgres  | waiting | 127.0.0.1 | 55192 | 127.0.0.1  |      56432 | 2026-11-24 07:55:46 UTC | 2026-11-24 07:55:46 UTC |    2 |   72817 |            0 | 0x5572739ccd60 |                |          0 |     | psql
 C    | postgres | postgres  | waiting | 127.0.0.1 | 55200 | 127.0.0.1  |      56432 | 2026-11-24 07:55:46 UTC | 2026-11-24 07:55:46 UTC |    2 |   67066 |            0 | 0x5572739ccfc0 |                |          0 |     | psql
(5 rows)
";

const USERS_1_18: &str = "
   name    | pool_mode
-----------+-----------
 admin     |
 pgbouncer |
 postgres  |
(3 rows)
";

/// The lines of 1.18's SHOW CONFIG the read uses (its `default` and `changeable`
/// columns kept, to be ignored).
const CONFIG_1_18: &str = "
            key            |   value   |  default  | changeable
---------------------------+-----------+-----------+------------
 client_idle_timeout       | 0         | 0         | yes
 client_login_timeout      | 60        | 60        | yes
 idle_transaction_timeout  | 0         | 0         | yes
 listen_port               | 56432     | 6432      | no
 max_client_conn           | 20        | 100       | yes
 max_db_connections        | 5         | 0         | yes
 max_user_connections      | 0         | 0         | yes
 query_timeout             | 0         | 0         | yes
 query_wait_timeout        | 120       | 120       | yes
 server_lifetime           | 3600      | 3600      | yes
(10 rows)
";

/// SHOW POOLS of a current release: `load_balance_hosts` added at the end.
const POOLS_NEWER: &str = "
 database | user | cl_active | cl_waiting | cl_active_cancel_req | cl_waiting_cancel_req | sv_active | sv_active_cancel | sv_being_canceled | sv_idle | sv_used | sv_tested | sv_login | maxwait | maxwait_us | pool_mode | load_balance_hosts
----------+------+-----------+------------+----------------------+-----------------------+-----------+------------------+-------------------+---------+---------+-----------+----------+---------+------------+-----------+-------------------
 orders   | app  |         5 |          3 |                    1 |                     0 |         4 |                1 |                 0 |       0 |       0 |         0 |        1 |       0 |     250000 | transaction |
 orders   | etl  |         1 |          0 |                    0 |                     0 |         1 |                0 |                 0 |       2 |       1 |         0 |        0 |       0 |          0 | transaction |
";

/// SHOW DATABASES of a current release: `reserve_pool_size` (renamed), the
/// server lifetime, `load_balance_hosts` and the client limits.
const DATABASES_NEWER: &str = "
 name   | host | port | database | force_user | pool_size | min_pool_size | reserve_pool_size | server_lifetime | pool_mode | load_balance_hosts | max_connections | current_connections | max_client_connections | current_client_connections | paused | disabled
--------+------+------+----------+------------+-----------+---------------+-------------------+-----------------+-----------+--------------------+-----------------+---------------------+------------------------+----------------------------+--------+----------
 orders | db1  | 5432 | orders   |            |         5 |             0 |                 1 |            3600 |           |                    |              10 |                   9 |                      0 |                          7 |      0 |        0
";

/// SHOW USERS of a current release: `etl` has a pool size and a limit of its own.
const USERS_NEWER: &str = "
 name | pool_size | reserve_pool_size | pool_mode | max_user_connections | current_connections | max_user_client_connections | current_client_connections
------+-----------+-------------------+-----------+----------------------+---------------------+-----------------------------+---------------------------
 app  |           |                   |           |                    0 |                   6 |                           0 |                          8
 etl  |         3 |                 0 |           |                    4 |                   4 |                           0 |                          1
";

/// SHOW CLIENTS of a current release: `idle` is a state, and `replication`,
/// `prepared_statements` and `id` are added.
const CLIENTS_NEWER: &str = "
 type | user | database | replication | state   | addr | port | local_addr | local_port | connect_time | request_time | wait | wait_us | close_needed | ptr | link | remote_pid | tls | application_name | prepared_statements | id
------+------+----------+-------------+---------+------+------+------------+------------+--------------+--------------+------+---------+--------------+-----+------+------------+-----+------------------+---------------------+----
 C    | app  | orders   | none        | active  | a    | 1    | b          | 6432       | t            | t            |    0 |       0 |            0 | 0x1 | 0x9  |          0 |     | web              |                   0 |  1
 C    | app  | orders   | none        | idle    | a    | 2    | b          | 6432       | t            | t            |    0 |       0 |            0 | 0x2 |      |          0 |     | web              |                   0 |  2
 C    | app  | orders   | none        | waiting | a    | 3    | b          | 6432       | t            | t            |    3 |  500000 |            0 | 0x3 |      |          0 |     | web              |                   0 |  3
 C    | app  | orders   | none        | active_cancel_req | a | 4 | b     | 6432       | t            | t            |    0 |       0 |            0 | 0x4 |      |          0 |     | web              |                   0 |  4
";

fn t(text: &str) -> Table {
    Table::from_psql(text)
}

#[test]
fn pools_of_1_18_are_read_by_name() {
    let pools = pools(&t(POOLS_1_18), &t(DATABASES_1_18), Some(&t(USERS_1_18))).unwrap();
    assert_eq!(pools.len(), 1, "the admin console's pool is left out");
    let p = &pools[0];
    assert_eq!(
        (p.database.as_str(), p.user.as_str()),
        ("postgres", "postgres")
    );
    assert_eq!(
        p.clients,
        vec![
            ("active", 2),
            ("waiting", 2),
            ("active_cancel_req", 0),
            ("waiting_cancel_req", 0)
        ]
    );
    assert_eq!(p.servers.len(), 7);
    assert_eq!(p.servers_in_use, 2);
    assert_eq!(p.max_wait_seconds, 1.974878);
    // pool_size 2 plus reserve_pool 1 (1.18's name for the reserve).
    assert_eq!(p.size, Some(3));
    assert_eq!(p.usage_ratio(), Some(2.0 / 3.0));
}

#[test]
fn newer_columns_are_read_and_user_pool_sizes_win() {
    let pools = pools(&t(POOLS_NEWER), &t(DATABASES_NEWER), Some(&t(USERS_NEWER))).unwrap();
    let app = &pools[0];
    assert_eq!(app.size, Some(6), "the database's 5 + reserve 1");
    // active 4 + active_cancel 1 + login 1.
    assert_eq!(app.servers_in_use, 6);
    assert_eq!(app.usage_ratio(), Some(1.0));
    assert_eq!(app.max_wait_seconds, 0.25);
    assert!(app.clients.contains(&("active_cancel_req", 1)));
    let etl = &pools[1];
    assert_eq!(etl.size, Some(3), "the user's own pool size, its reserve 0");
    assert_eq!(etl.servers_in_use, 1, "idle and used servers are available");
}

#[test]
fn a_version_before_the_cancel_split_shows_one_cancel_state() {
    let old = Table::new(
        &[
            "database",
            "user",
            "cl_active",
            "cl_waiting",
            "cl_cancel_req",
            "sv_active",
            "sv_idle",
            "sv_used",
            "sv_tested",
            "sv_login",
            "maxwait",
        ],
        &[&["db", "u", "1", "0", "2", "1", "0", "0", "0", "0", "7"]],
    );
    let dbs = Table::new(&["name", "pool_size", "reserve_pool"], &[&["db", "1", "0"]]);
    let pools = pools(&old, &dbs, None).unwrap();
    assert_eq!(
        pools[0].clients,
        vec![("active", 1), ("waiting", 0), ("cancel_req", 2)]
    );
    assert_eq!(pools[0].max_wait_seconds, 7.0);
    assert_eq!(pools[0].usage_ratio(), Some(1.0));
}

#[test]
fn a_missing_required_column_is_named() {
    let broken = Table::new(&["database", "user"], &[&["db", "u"]]);
    let err = pools(&broken, &Table::default(), None).unwrap_err();
    assert_eq!(err, "SHOW POOLS: no column maxwait");
    let err = config(&Table::new(&["key", "value"], &[])).unwrap_err();
    assert!(err.contains("max_client_conn"), "{err}");
    let bad = Table::new(&["list", "items"], &[&["used_clients", "many"]]);
    assert!(used_clients(&bad).unwrap_err().contains("not a count"));
}

#[test]
fn config_gives_the_limit_and_the_timeouts() {
    let c = config(&t(CONFIG_1_18)).unwrap();
    assert_eq!(c.max_client_conn, 20);
    assert_eq!(c.max_user_connections, 0);
    assert!(
        c.timeouts
            .contains(&("query_wait_timeout".to_string(), 120.0))
    );
    assert!(c.timeouts.contains(&("query_timeout".to_string(), 0.0)));
    assert!(!c.timeouts.iter().any(|(k, _)| k == "listen_port"));
}

#[test]
fn clients_map_onto_the_common_states() {
    let groups = client_groups(&t(CLIENTS_1_18), &[1.0, 2.5]).unwrap();
    let facts = sessions(
        groups,
        used_clients(&t(LISTS_1_18)).unwrap(),
        &[1.0, 2.5],
        10,
    );
    // Linked to a server: active; the console's own client (no link): idle;
    // waiting: other.
    assert_eq!(facts.by_state.get(State::Active), 2);
    assert_eq!(facts.by_state.get(State::Idle), 1);
    assert_eq!(facts.by_state.get(State::Other), 2);
    assert_eq!(facts.by_state.total(), 5, "used_clients");
    assert_eq!(facts.hidden, 0);
    assert_eq!(facts.max_state_duration_seconds.get(State::Other), 2.072817);
    assert_eq!(facts.over_duration[0].per_state.get(State::Other), 2);
    assert_eq!(facts.over_duration[1].per_state.get(State::Other), 0);
    assert_eq!(facts.average_connection_age_seconds, None);

    let groups = client_groups(&t(CLIENTS_NEWER), &[]).unwrap();
    let facts = sessions(groups, 4, &[], 10);
    assert_eq!(facts.by_state.get(State::Active), 1);
    assert_eq!(facts.by_state.get(State::Idle), 1);
    assert_eq!(facts.by_state.get(State::Other), 2);
    assert_eq!(facts.max_state_duration_seconds.get(State::Other), 3.5);
}

#[test]
fn clients_counted_but_not_listed_are_hidden_in_other() {
    let groups = client_groups(&t(CLIENTS_1_18), &[]).unwrap();
    let facts = sessions(groups, 7, &[], 10);
    assert_eq!(facts.by_state.total(), 7);
    assert_eq!(facts.hidden, 2);
    assert_eq!(facts.by_state.get(State::Other), 4);
}

#[test]
fn limits_are_per_database_and_per_user() {
    let dbs = database_limits(&t(DATABASES_1_18)).unwrap();
    assert_eq!(
        dbs,
        vec![LimitUse {
            name: "postgres".into(),
            limit: 5,
            used: 2
        }],
        "the admin console has no server connections to limit"
    );
    let c = config(&t(CONFIG_1_18)).unwrap();
    let p = pools(&t(POOLS_1_18), &t(DATABASES_1_18), Some(&t(USERS_1_18))).unwrap();
    assert!(
        user_limits(Some(&t(USERS_1_18)), &p, &c)
            .unwrap()
            .is_empty()
    );
    let global = Config {
        max_user_connections: 3,
        ..c.clone()
    };
    assert_eq!(
        user_limits(Some(&t(USERS_1_18)), &p, &global).unwrap(),
        vec![LimitUse {
            name: "postgres".into(),
            limit: 3,
            used: 2
        }]
    );
    let p = pools(&t(POOLS_NEWER), &t(DATABASES_NEWER), Some(&t(USERS_NEWER))).unwrap();
    assert_eq!(
        user_limits(Some(&t(USERS_NEWER)), &p, &global).unwrap(),
        vec![LimitUse {
            name: "etl".into(),
            limit: 4,
            used: 4
        }],
        "where SHOW USERS has the limit, each user's own is used"
    );
}

#[test]
fn the_version_is_the_number() {
    let v = Table::new(&["version"], &[&["PgBouncer 1.18.0"]]);
    assert_eq!(version(&v).unwrap(), "1.18.0");
}
