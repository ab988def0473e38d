//! The incident view over HTTP, end to end: a real PostgreSQL with a session idle in
//! transaction holding a row lock and one waiting on it, the exporter binary, its
//! JSON API and page, the page in a real headless browser (Debian's `chromium`),
//! and the view's refusals (400, 404, disabled, 503, 401 under basic auth).

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use support::ConfigFile;
use support::chromium::{CSP_VIOLATION, Chromium, assert_png};
use support::exporter::Exporter;
use support::http::{self, Response};
use support::pg::{PgCluster, PgOptions, blockers, exporter_sessions};

/// A name that must reach the page only as text.
const HOSTILE_APP: &str = "<script>alert(1)</script>";
const TARGET: &str = "orders-eu";

async fn get(exporter: &Exporter, path: &str) -> Response {
    http::get(exporter.address(), path, &[]).await
}

/// Polls `path` until `check` holds; panics with the last response after 60 s.
async fn get_until(exporter: &Exporter, path: &str, check: impl Fn(&Response) -> bool) -> Response {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = get(exporter, path).await;
        if check(&r) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never gave what the test waits for; last: {} {:?}\n{}",
            r.status,
            r.headers,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls the server until `count` gives `expected`.
async fn wait_count(
    what: &str,
    watcher: &tokio_postgres::Client,
    count: impl AsyncFn(&tokio_postgres::Client) -> i64,
    expected: i64,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = count(watcher).await;
        if n == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {n}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sha256_source(block: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, block.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// The text of every `<tag>…</tag>` block of a page.
fn blocks<'a>(page: &'a str, tag: &str) -> Vec<&'a str> {
    page.split(&format!("<{tag}>"))
        .skip(1)
        .map(|rest| rest.split(&format!("</{tag}>")).next().unwrap())
        .collect()
}

/// The page's security headers, and a policy that allows exactly its own inline
/// blocks by hash and nothing else.
fn assert_page_headers(r: &Response) {
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let policy = r
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("no Content-Security-Policy in {:?}", r.headers));
    let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
    for d in [
        "default-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(directives.contains(&d), "{d} missing from {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    for (tag, directive) in [("style", "style-src"), ("script", "script-src")] {
        let allowed: Vec<String> = directives
            .iter()
            .find_map(|d| d.strip_prefix(directive))
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let served: Vec<String> = blocks(&r.body, tag)
            .into_iter()
            .map(sha256_source)
            .collect();
        for hash in &served {
            assert!(allowed.contains(hash), "{tag} block {hash} not in {policy}");
        }
        if tag == "style" {
            assert_eq!(served.len(), 1, "one style block");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_shows_the_root_blocker_in_json_and_in_a_browser() {
    let pg = PgCluster::start(PgOptions::default());
    pg.create_accounts().await;
    let watcher = pg.superuser_session("watcher").await;
    // The holder: idle in transaction with row 1 locked, under a hostile name.
    let holder = pg
        .connect("postgres", "postgres", HOSTILE_APP)
        .await
        .expect("connect the holder");
    holder
        .batch_execute("BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = 1")
        .await
        .expect("take the row lock");
    let holder_pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("holder pid")
        .get(0);
    let waiter = pg
        .connect("postgres", "postgres", "waiter")
        .await
        .expect("connect the waiter");
    let waiting = tokio::spawn(async move {
        waiter
            .batch_execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
            .await
    });
    wait_count("blockers", &watcher, blockers, 1).await;

    let exporter = Exporter::start(&[format!(
        "--target={TARGET}={}",
        pg.dsn("postgres", "postgres")
    )]);
    wait_count("exporter sessions", &watcher, exporter_sessions, 1).await;
    let api = format!("/api/v1/incident?target={TARGET}");
    let r = get_until(&exporter, &api, |r| r.status == 200).await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let report: serde_json::Value = serde_json::from_str(&r.body).expect("JSON report");
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["target"], TARGET);
    assert_eq!(report["engine"], "postgresql");
    // The PostgreSQL read lists the holder, idle in transaction, and its waiter.
    let sessions = report["sessions"].as_array().expect("sessions");
    let listed = sessions
        .iter()
        .find(|s| s["pid"] == i64::from(holder_pid))
        .unwrap_or_else(|| panic!("holder {holder_pid} not listed: {report:#}"));
    assert_eq!(listed["state"], "idle_in_transaction");
    assert_eq!(listed["application"], HOSTILE_APP);

    // The page: escaped, under a policy that allows exactly its own blocks.
    let page_path = format!("/incident?target={TARGET}");
    let page = get(&exporter, &page_path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_page_headers(&page);
    assert!(!page.body.contains(HOSTILE_APP), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        page.body
            .contains("<meta http-equiv=\"refresh\" content=\"5\">")
    );
    assert!(page.body.contains(&format!("<td>{holder_pid}</td>")));
    let landing = get(&exporter, "/").await;
    assert!(
        landing
            .body
            .contains(&format!("href=\"/incident?target={TARGET}\""))
    );

    // A real browser: the rendered DOM holds the target, the top holder's
    // application (as text) and the root blocker's pid, and reports no blocked
    // inline block. The control proves its console reports a violation.
    let chromium = Chromium::new();
    chromium.assert_logs_violations();
    let url = format!("http://{}{page_path}", exporter.address());
    let dom = chromium.dom(&url);
    assert!(!dom.stderr.contains(CSP_VIOLATION), "{}", dom.stderr);
    assert!(
        dom.stdout.contains(&format!("<h1>{TARGET}</h1>")),
        "{}",
        dom.stdout
    );
    assert!(
        dom.stdout.contains(&format!("<td>{holder_pid}</td>")),
        "{}",
        dom.stdout
    );
    assert!(
        dom.stdout.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        dom.stdout
    );
    assert!(!dom.stdout.contains(HOSTILE_APP), "{}", dom.stdout);
    // The script ran under the policy: it un-hid the Copy buttons.
    if page.body.contains("class=\"copy\"") {
        assert!(
            dom.stdout.contains("class=\"copy\" data-for=\"relief-0\">")
                || dom.stdout.contains("class=\"copy\" data-for=\"advice-0\">"),
            "{}",
            dom.stdout
        );
    }
    let screenshot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/incident-page.png");
    let shot = chromium.screenshot(&url, &screenshot, 412, 915);
    assert!(!shot.stderr.contains(CSP_VIOLATION), "{}", shot.stderr);
    assert_png(&screenshot);

    // Through all of it, the exporter held one session.
    assert_eq!(exporter_sessions(&watcher).await, 1);

    // The analysis: the holder is the root blocker, the waiter below it, and the
    // browser shows both the root blocker's pid and the top holder's application.
    let roots = report["root_blockers"].as_array().expect("root_blockers");
    assert_eq!(
        roots.first().map(|b| b["pid"].clone()),
        Some(serde_json::json!(holder_pid)),
        "root blockers: {report:#}"
    );
    assert_eq!(roots[0]["blocked_total"], 1);
    assert!(
        dom.stdout.contains(&format!("<b>pid {holder_pid}</b>")),
        "{}",
        dom.stdout
    );
    let top_application = report["holders"][0]["application"]
        .as_str()
        .unwrap_or_else(|| panic!("no holder: {report:#}"))
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(
        dom.stdout.contains(&format!("<td>{top_application}</td>")),
        "{}",
        dom.stdout
    );
    holder.batch_execute("ROLLBACK").await.expect("roll back");
    waiting
        .await
        .expect("waiter task")
        .expect("the waiter's update");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_unknown_targets_and_a_stopped_server_are_refused() {
    let mut pg = PgCluster::start(PgOptions::default());
    let watcher = pg.superuser_session("watcher").await;
    let exporter = Exporter::start(&[format!(
        "--target={TARGET}={}",
        pg.dsn("postgres", "postgres")
    )]);
    for path in ["/api/v1/incident", "/incident"] {
        let r = get(&exporter, path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.body.contains("missing target parameter"), "{}", r.body);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        // The requested name is attacker input: never written back.
        let r = get(
            &exporter,
            &format!("{path}?target=%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
        )
        .await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(r.body.contains("unknown target"), "{}", r.body);
        assert!(r.body.contains(TARGET), "{}", r.body);
        assert!(!r.body.contains("alert"), "{}", r.body);
    }
    let api = get(&exporter, "/api/v1/incident?target=nope").await;
    assert_eq!(
        api.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let page = get(&exporter, "/incident?target=nope").await;
    assert_page_headers(&page);
    get_until(
        &exporter,
        &format!("/api/v1/incident?target={TARGET}"),
        |r| r.status == 200,
    )
    .await;
    assert_eq!(exporter_sessions(&watcher).await, 1);
    drop(watcher);

    pg.stop();
    let r = get_until(
        &exporter,
        &format!("/api/v1/incident?target={TARGET}"),
        |r| r.status == 503,
    )
    .await;
    assert!(r.body.starts_with("no incident read: "), "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let r = get_until(&exporter, &format!("/incident?target={TARGET}"), |r| {
        r.status == 503
    })
    .await;
    assert_page_headers(&r);
    assert!(
        r.body
            .contains("<meta http-equiv=\"refresh\" content=\"5\">"),
        "{}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_view_is_not_found() {
    let config = ConfigFile::new("incident:\n  enabled: false\n");
    let exporter = Exporter::start(&[
        config.arg(),
        format!(
            "--target={TARGET}=postgres://postgres@127.0.0.1:{}/postgres",
            support::proc::free_port()
        ),
    ]);
    for path in ["/api/v1/incident", "/incident"] {
        let r = get(&exporter, &format!("{path}?target={TARGET}")).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(r.body.contains("disabled"), "{}", r.body);
        assert!(r.body.contains("enabled: false"), "{}", r.body);
    }
    let landing = get(&exporter, "/").await;
    assert_eq!(landing.status, 200);
    assert!(landing.body.contains("/probe?target="), "{}", landing.body);
    assert!(!landing.body.contains("/incident"), "{}", landing.body);
}

/// A bcrypt hash of `password`, made as the README says.
fn htpasswd_hash(password: &str) -> String {
    let htpasswd = support::proc::require_binary("htpasswd", &["/usr/bin/htpasswd"]);
    let output = support::proc::run_with_stdin(
        &htpasswd,
        &["-inBC", "10", ""],
        format!("{password}\n").as_bytes(),
    );
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .replace([':', '\n'], "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_guards_the_view() {
    let config = ConfigFile::new(&format!(
        "basic_auth_users:\n  oncall: {}\n",
        htpasswd_hash("night-shift")
    ));
    let exporter = Exporter::start(&[
        format!("--web.config.file={}", config.path.display()),
        format!(
            "--target={TARGET}=postgres://postgres@127.0.0.1:{}/postgres",
            support::proc::free_port()
        ),
    ]);
    let credentials = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("oncall:night-shift")
    );
    for path in [
        format!("/api/v1/incident?target={TARGET}"),
        format!("/incident?target={TARGET}"),
        "/api/v1/incident".to_string(),
    ] {
        let r = get(&exporter, &path).await;
        assert_eq!(r.status, 401, "{path}: {}", r.body);
        assert!(!r.body.contains(TARGET), "{}", r.body);
        let r = http::get(
            exporter.address(),
            &path,
            &[("Authorization", credentials.as_str())],
        )
        .await;
        assert_ne!(r.status, 401, "{path} with credentials: {}", r.body);
    }
}

/// An application name built to close the relief statement's string literal when
/// the session that runs it reads backslashes as escapes.
const INJECTING_APP: &str = "x\\' OR true --";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relief_statement_ends_only_its_sessions_whatever_their_names_say() {
    let pg = PgCluster::start(PgOptions::default());
    pg.exec("CREATE ROLE payflow LOGIN").await;
    let watcher = pg.superuser_session("watcher").await;
    // The top holder: three idle sessions whose name tries to widen the statement.
    let mut hostile = Vec::new();
    for _ in 0..3 {
        hostile.push(
            pg.connect("payflow", "postgres", INJECTING_APP)
                .await
                .expect("connect a hostile session"),
        );
    }
    let bystander = pg
        .connect("postgres", "postgres", "bystander")
        .await
        .expect("connect the bystander");
    let config = ConfigFile::new("incident:\n  relief_idle_after: 1s\n");
    let exporter = Exporter::start(&[
        config.arg(),
        format!("--target={TARGET}={}", pg.dsn("postgres", "postgres")),
    ]);
    wait_count("exporter sessions", &watcher, exporter_sessions, 1).await;
    // The relief offers the three hostile sessions once they have idled long enough.
    let api = format!("/api/v1/incident?target={TARGET}");
    let r = get_until(&exporter, &api, |r| {
        serde_json::from_str::<serde_json::Value>(&r.body).is_ok_and(|report| {
            report["relief"].as_array().into_iter().flatten().any(|x| {
                x["id"] == "terminate_idle_of_top_holder"
                    && x["pids"].as_array().map(Vec::len) == Some(3)
            })
        })
    })
    .await;
    let report: serde_json::Value = serde_json::from_str(&r.body).expect("JSON report");
    let relief = report["relief"]
        .as_array()
        .expect("relief")
        .iter()
        .find(|x| x["id"] == "terminate_idle_of_top_holder")
        .expect("the idle sessions of the top holder")
        .clone();
    let statements: Vec<String> = relief["sql"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|s| s.as_str().expect("text").to_string())
        .collect();
    // Run it as an on-call engineer would, from a superuser session whose settings
    // read backslashes as escapes.
    watcher
        .batch_execute("SET standard_conforming_strings = off")
        .await
        .expect("set standard_conforming_strings");
    let mut ended = 0;
    for sql in &statements {
        ended += watcher
            .query(sql.as_str(), &[])
            .await
            .expect("run the relief")
            .len();
    }
    assert_eq!(ended, 3, "{statements:?}");
    // Everything else is alive: the bystander, the watcher, the exporter.
    bystander
        .simple_query("SELECT 1")
        .await
        .expect("the bystander's session was ended");
    assert_eq!(exporter_sessions(&watcher).await, 1);
    for client in &hostile {
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.simple_query("SELECT 1").await.is_ok() {
            assert!(Instant::now() < deadline, "a hostile session survived");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_target_is_refused_and_the_page_keeps_its_own_policy() {
    let config = ConfigFile::new(
        "http_server_config:\n  headers:\n    Content-Security-Policy: \"default-src 'self'\"\n",
    );
    let exporter = Exporter::start(&[
        format!("--web.config.file={}", config.path.display()),
        format!(
            "--target={TARGET}=postgres://postgres@127.0.0.1:{}/postgres",
            support::proc::free_port()
        ),
        "--target=other=postgres://postgres@127.0.0.1:1/postgres".to_string(),
    ]);
    // Two names: neither is chosen silently.
    for path in ["/api/v1/incident", "/incident", "/probe"] {
        let r = get(&exporter, &format!("{path}?target={TARGET}&target=other")).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.body.contains("more than once"), "{path}: {}", r.body);
    }
    // The site-wide policy applies where a route has none of its own…
    let landing = get(&exporter, "/").await;
    assert_eq!(
        landing.header("content-security-policy"),
        Some("default-src 'self'")
    );
    // …and the page keeps its hash-only policy (the target is down: the 503 page).
    let page = get(&exporter, &format!("/incident?target={TARGET}")).await;
    assert_eq!(page.status, 503, "{}", page.body);
    let policy = page
        .header("content-security-policy")
        .expect("the page's policy");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(!policy.contains("'self'"), "{policy}");
}
