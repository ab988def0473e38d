//! The HTTP server under careless and hostile clients: thousands of idle sockets under
//! a small file limit, a slowloris, a request never finished at shutdown, SIGHUP. The
//! real exporter binary, scraped over real sockets; the database is real where
//! `dbconn_up 1` is the point, and a closed port where only the HTTP side is.

mod support;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::exporter::{Exporter, Launch, OPENMETRICS};
use support::pg::{PgCluster, PgOptions};
use support::scrape::{self, TARGET, is_up};

/// The exporter's header-read timeout (README, "HTTP endpoints").
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests may take to finish after SIGTERM (README).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

const IDLE_SOCKETS: usize = 2000;
/// The common default `ulimit -n`.
const EXPORTER_FILE_LIMIT: u64 = 1024;

/// A target nobody listens on: `/metrics` still answers, with `dbconn_up 0`.
fn closed_port_target() -> String {
    format!(
        "--target=postgres://postgres@127.0.0.1:{}/postgres",
        support::proc::free_port()
    )
}

/// Raises this process's soft file limit to its hard limit; fails (never skips) when
/// the hard limit cannot hold what the test opens.
fn raise_own_file_limit(needed: u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) }, 0);
    assert!(
        rl.rlim_max >= needed,
        "this test opens {IDLE_SOCKETS} sockets and needs an open-file hard limit of at \
         least {needed}; the hard limit here is {}: raise it (ulimit -Hn, LimitNOFILE)",
        rl.rlim_max
    );
    rl.rlim_cur = rl.rlim_max;
    // SAFETY: setrlimit reads the struct we own.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) }, 0);
}

/// The JSON log lines whose message is `message`.
fn log_lines(exporter: &Exporter, message: &str) -> Vec<serde_json::Value> {
    exporter
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"].as_str() == Some(message))
        .collect()
}

#[tokio::test]
async fn metrics_answer_with_2000_idle_sockets_under_a_1024_file_limit() {
    raise_own_file_limit(IDLE_SOCKETS as u64 + 300);
    let cluster = PgCluster::start(PgOptions::default());
    let config = scrape::config(&[(TARGET, &cluster.superuser_dsn())], "");
    let exporter = Exporter::start_with(
        &[config.arg()],
        &Launch {
            open_files: Some(EXPORTER_FILE_LIMIT),
            // More than the file limit holds: the exporter must fit the cap under it.
            env: vec![("DBCONN_WEB_MAX_CONNECTIONS".into(), "5000".into())],
        },
    );
    let listening = log_lines(&exporter, "listening");
    let cap = listening
        .first()
        .and_then(|v| v["fields"]["max_connections"].as_u64())
        .expect("the connection cap in the listening line");
    assert!(
        cap < EXPORTER_FILE_LIMIT - 32,
        "a cap of {cap} connections leaves too few of {EXPORTER_FILE_LIMIT} descriptors"
    );
    exporter.scrape_until("dbconn_up 1", is_up).await;
    let rss_before = exporter.rss_bytes();

    // An exporter that stops accepting leaves later connects hanging in the listen
    // queue: the first one that does not complete ends the opening (and fails the
    // test below), so that the scrapes still show what such an exporter does.
    let mut sockets = Vec::with_capacity(IDLE_SOCKETS);
    let mut failures = Vec::new();
    let opening = Instant::now();
    for i in 0..IDLE_SOCKETS {
        match tokio::time::timeout(
            Duration::from_secs(5),
            TcpStream::connect(exporter.address()),
        )
        .await
        {
            Ok(Ok(s)) => sockets.push(s),
            Ok(Err(e)) => {
                failures.push(format!("idle socket {i}: {e}"));
                break;
            }
            Err(_) => {
                failures.push(format!("idle socket {i}: connect hung for 5 s"));
                break;
            }
        }
    }
    println!(
        "{} idle sockets opened in {:.1} s",
        sockets.len(),
        opening.elapsed().as_secs_f64()
    );

    const SCRAPES: usize = 10;
    let mut answered = 0;
    let mut rss_peak = exporter.rss_bytes();
    for i in 0..SCRAPES {
        let started = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            exporter.scrape_with("/metrics", &[("Accept", OPENMETRICS)]),
        )
        .await;
        match r {
            Ok(r) if r.status == 200 => {
                let m = support::openmetrics::parse(&r.body);
                if is_up(&m) {
                    answered += 1;
                } else {
                    failures.push(format!("scrape {i}: dbconn_up is not 1"));
                }
            }
            Ok(r) => failures.push(format!("scrape {i}: status {}: {}", r.status, r.body)),
            Err(_) => failures.push(format!("scrape {i}: no answer within 5 s")),
        }
        println!(
            "scrape {i}: {:.3} s",
            started.elapsed().as_secs_f64().min(5.0)
        );
        rss_peak = rss_peak.max(exporter.rss_bytes());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "scrapes answered: {answered}/{SCRAPES}; RSS {:.1} MB before the sockets, \
         {:.1} MB peak with {} idle sockets open",
        mb(rss_before),
        mb(rss_peak),
        sockets.len()
    );
    let accept_errors = exporter
        .logs()
        .lines()
        .filter(|l| l.contains("accept"))
        .count();
    assert!(
        failures.is_empty(),
        "{answered}/{SCRAPES} scrapes answered with {} idle sockets open \
         under a file limit of {EXPORTER_FILE_LIMIT}:\n{}\n{accept_errors} log lines \
         about accept; last logs:\n{}",
        sockets.len(),
        failures.join("\n"),
        tail(&exporter.logs(), 20)
    );
    assert!(
        rss_peak < 40 * 1024 * 1024,
        "RSS {:.1} MB with {} idle sockets",
        mb(rss_peak),
        sockets.len()
    );
    assert!(
        accept_errors <= 2,
        "accept errors are logged over and over ({accept_errors} lines)"
    );
    let limit = log_lines(&exporter, "open file limit");
    assert!(
        limit
            .iter()
            .any(|v| v["fields"]["soft"].as_u64() == Some(EXPORTER_FILE_LIMIT)),
        "the open file limit in effect is not logged: {limit:?}"
    );
    let cap_reached = exporter
        .logs()
        .lines()
        .filter(|l| l.contains("connection limit reached"))
        .count();
    assert!(
        (1..=2).contains(&cap_reached),
        "the connection cap is logged {cap_reached} times in a few seconds"
    );
    drop(sockets);
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[tokio::test]
async fn sigterm_with_a_half_sent_request_exits_within_the_grace() {
    let mut exporter = Exporter::start(&[closed_port_target()]);
    let _idle = TcpStream::connect(exporter.address()).await.unwrap();
    let mut half = TcpStream::connect(exporter.address()).await.unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\nAccept: text/pl")
        .await
        .unwrap();
    // Connections are accepted in order: an answer on a later one means the exporter
    // holds both of the earlier ones.
    assert_eq!(exporter.scrape_with("/-/healthy", &[]).await.status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let signalled = Instant::now();
    exporter.signal(libc::SIGTERM);
    let bound = SHUTDOWN_GRACE + Duration::from_secs(3);
    let status = exporter.wait_exit(bound);
    let Some(status) = status else {
        panic!(
            "the exporter is still running {:.1} s after SIGTERM with a half-sent request \
             open:\n{}",
            signalled.elapsed().as_secs_f64(),
            tail(&exporter.logs(), 10)
        );
    };
    println!(
        "exited {:.2} s after SIGTERM: {status}",
        signalled.elapsed().as_secs_f64()
    );
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        exporter.logs()
    );
}

/// One request on its own connection; everything the server sent before it closed.
async fn raw_request(address: &str, path: &str, headers: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: exporter\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    answer
}

#[tokio::test]
async fn sigterm_lets_requests_finish_within_the_grace_and_cuts_the_rest() {
    // A "database" that completes the TCP handshake and never says a word: with a
    // long connect timeout, each scrape waits until its own deadline.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dsn = format!(
        "postgres://postgres@{}/postgres",
        silent.local_addr().unwrap()
    );
    let config = scrape::config(&[("silent", &dsn)], "collection:\n  connect_timeout: 30s\n");
    let mut exporter = Exporter::start(&[config.arg()]);
    let address = exporter.address().to_string();
    let short = tokio::spawn({
        let address = address.clone();
        async move {
            raw_request(
                &address,
                "/metrics",
                "X-Prometheus-Scrape-Timeout-Seconds: 3\r\n",
            )
            .await
        }
    });
    let long = tokio::spawn({
        let address = address.clone();
        async move {
            raw_request(
                &address,
                "/metrics",
                "X-Prometheus-Scrape-Timeout-Seconds: 60\r\n",
            )
            .await
        }
    });
    // Connections are accepted in order: an answer on a later one means the exporter
    // took both scrapes.
    assert_eq!(exporter.scrape_with("/-/healthy", &[]).await.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = Instant::now();
    exporter.signal(libc::SIGTERM);
    let short = String::from_utf8(short.await.unwrap()).unwrap();
    let answered_after = signalled.elapsed();
    assert!(
        short.starts_with("HTTP/1.1 200") && short.contains("dbconn_up"),
        "the scrape in flight at SIGTERM was not answered: {short:?}\n{}",
        exporter.logs()
    );
    let status = exporter.wait_exit(SHUTDOWN_GRACE + Duration::from_secs(3));
    let Some(status) = status else {
        panic!(
            "still running {:.1} s after SIGTERM with a 60 s scrape in flight:\n{}",
            signalled.elapsed().as_secs_f64(),
            tail(&exporter.logs(), 10)
        );
    };
    let exited_after = signalled.elapsed();
    assert!(status.success(), "exit status {status}");
    let long = long.await.unwrap();
    assert!(
        long.is_empty(),
        "the 60 s scrape was answered: {:?}",
        String::from_utf8_lossy(&long)
    );
    println!(
        "3 s scrape answered {:.2} s after SIGTERM; exited {:.2} s after SIGTERM",
        answered_after.as_secs_f64(),
        exited_after.as_secs_f64()
    );
    assert!(
        exporter
            .logs()
            .contains("requests still unanswered after the shutdown grace"),
        "{}",
        exporter.logs()
    );
    drop(silent);
}

#[tokio::test]
async fn slowloris_is_cut_after_the_header_timeout_while_keep_alive_outlives_it() {
    let exporter = Exporter::start(&[closed_port_target()]);

    // Prometheus keeps its connection open between scrapes.
    let mut keep = TcpStream::connect(exporter.address()).await.unwrap();
    let r = support::http::get_keep_alive(&mut keep, "/-/healthy").await;
    assert_eq!(r.status, 200);
    let keep_idle_since = Instant::now();

    // A header line a second, never the blank line that ends the header.
    let mut slow = TcpStream::connect(exporter.address()).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\n").await.unwrap();
    let first_byte = Instant::now();
    let cut_after = loop {
        let elapsed = first_byte.elapsed();
        assert!(
            elapsed < Duration::from_secs(40),
            "a client sending one header line a second is still connected after {:.0} s",
            elapsed.as_secs_f64()
        );
        if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
            break first_byte.elapsed();
        }
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(Duration::from_secs(1), slow.read(&mut buf)).await {
            Err(_) => continue,
            // Closed, reset, or an error response before the close: cut either way.
            Ok(_) => break first_byte.elapsed(),
        }
    };
    println!(
        "slowloris cut {:.1} s after its first byte",
        cut_after.as_secs_f64()
    );
    assert!(
        cut_after >= HEADER_TIMEOUT - Duration::from_secs(2)
            && cut_after <= HEADER_TIMEOUT + Duration::from_secs(5),
        "the slowloris was cut after {:.1} s; the header timeout is {} s",
        cut_after.as_secs_f64(),
        HEADER_TIMEOUT.as_secs()
    );

    // The idle keep-alive connection has now waited longer than the header timeout,
    // as it does between two scrapes, and is still served.
    let idle_for = keep_idle_since.elapsed();
    assert!(idle_for > HEADER_TIMEOUT);
    let r = support::http::get_keep_alive(&mut keep, "/-/healthy").await;
    assert_eq!(
        r.status,
        200,
        "a keep-alive connection idle for {:.1} s",
        idle_for.as_secs_f64()
    );
}

#[tokio::test]
async fn sighup_reloads_and_does_not_stop_the_exporter() {
    let mut exporter = Exporter::start(&[closed_port_target()]);
    exporter.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = exporter.exited() {
            panic!(
                "SIGHUP stopped the exporter ({status}):\n{}",
                exporter.logs()
            );
        }
        if exporter.logs().contains("configuration reloaded") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no log line says that the configuration was reloaded:\n{}",
            exporter.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let m = exporter.scrape().await.metrics;
    assert_eq!(m.value("dbconn_up", &[]), Some(0.0), "{}", m.text());
    assert!(exporter.exited().is_none());
}
