//! `--web.config.file` with real clients: curl with and without credentials and
//! client certificates, `openssl s_client` watching a certificate rotate, a raw
//! socket trickling a handshake, and a real Prometheus scraping through TLS, a client
//! certificate and basic auth. Certificates come from the `openssl` CLI, the bcrypt
//! hash from `htpasswd` as the README makes it.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::exporter::{Exporter, OPENMETRICS};
use support::pg::{PgCluster, PgOptions};
use support::prometheus::Prometheus;
use support::tls::{Pki, curl, served_serial};

const USER: &str = "prometheus";
const PASSWORD: &str = "scrape-secret";

/// A bcrypt hash of `password`, made as the README says (`htpasswd -nBC 10 ""`,
/// here with `-i` to read the password from stdin instead of a prompt).
fn htpasswd_hash(password: &str) -> String {
    let htpasswd = support::proc::require_binary("htpasswd", &["/usr/bin/htpasswd"]);
    let output = support::proc::run_with_stdin(
        &htpasswd,
        &["-inBC", "10", ""],
        format!("{password}\n").as_bytes(),
    );
    assert!(output.status.success(), "{output:?}");
    let hash = String::from_utf8(output.stdout)
        .unwrap()
        .replace([':', '\n'], "");
    assert!(hash.starts_with("$2y$10$"), "{hash}");
    hash
}

fn write_web_config(pki: &Pki, yaml: &str) -> PathBuf {
    let path = pki.dir().join("web.yml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn closed_port_target() -> String {
    format!(
        "--target=db=postgres://postgres@127.0.0.1:{}/postgres",
        support::proc::free_port()
    )
}

fn web_arg(path: &Path) -> String {
    format!("--web.config.file={}", path.display())
}

fn url(exporter: &Exporter, path: &str) -> String {
    format!("https://{}{path}", exporter.address())
}

/// Polls `check` until it holds; panics naming `what` after 60 s.
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn tls_basic_auth_headers_and_gzip_with_curl() {
    let pg = PgCluster::start(PgOptions::default());
    let pki = Pki::new();
    let hash = htpasswd_hash(PASSWORD);
    // Relative paths: resolved against the web config file's directory.
    let web = write_web_config(
        &pki,
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             http_server_config:\n  http2: true\n  headers:\n    Strict-Transport-Security: max-age=31536000\n\
             basic_auth_users:\n  {USER}: {hash}\n"
        ),
    );
    let exporter = Exporter::start(&[format!("--target=db={}", pg.superuser_dsn()), web_arg(&web)]);
    let ca = pki.ca.cert.to_str().unwrap();
    let credentials = format!("{USER}:{PASSWORD}");
    let with = |path: &str, extra: &[&str]| {
        let target = url(&exporter, path);
        let mut args = vec!["--cacert", ca, "-u", credentials.as_str()];
        args.extend_from_slice(extra);
        args.push(target.as_str());
        curl(&args)
    };

    // The right credentials over TLS: the metrics, with the configured header.
    let metrics = wait_for("dbconn_up 1 through TLS and basic auth", || {
        let r = with("/metrics", &["-H", &format!("Accept: {OPENMETRICS}")]);
        assert_eq!(r.status, 200, "{r:?}");
        let m = support::openmetrics::parse(&r.text());
        (m.value("dbconn_up", &[("target", "db")]) == Some(1.0)).then_some(r)
    });
    assert_eq!(
        metrics.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    for path in ["/", "/probe?target=db", "/-/ready"] {
        assert_eq!(with(path, &[]).status, 200, "{path}");
    }

    // Every route but GET /-/healthy needs the credentials.
    for path in ["/", "/metrics", "/probe?target=db", "/-/ready", "/nowhere"] {
        let r = curl(&["--cacert", ca, &url(&exporter, path)]);
        assert_eq!(r.status, 401, "{path}: {r:?}");
        assert_eq!(r.header("www-authenticate"), Some("Basic"), "{path}");
        assert_eq!(
            r.header("strict-transport-security"),
            Some("max-age=31536000"),
            "{path}"
        );
        assert!(!r.text().contains("dbconn_"), "{path}: {}", r.text());
    }
    let healthy = curl(&["--cacert", ca, &url(&exporter, "/-/healthy")]);
    assert_eq!(healthy.status, 200, "{healthy:?}");
    assert_eq!(healthy.text(), "Healthy\n");
    let post = curl(&["--cacert", ca, "-X", "POST", &url(&exporter, "/-/healthy")]);
    assert_eq!(post.status, 401, "only GET /-/healthy is open");

    // Wrong password, unknown user, malformed headers: 401, never the metrics.
    let wrong = [
        ("-u", format!("{USER}:wrong")),
        ("-u", format!("mallory:{PASSWORD}")),
        ("-u", format!("{USER}:")),
        ("-H", "Authorization: Basic !!!not-base64!!!".to_string()),
        ("-H", "Authorization: Basic cHJvbWV0aGV1cw==".to_string()), // no colon
        (
            "-H",
            "Authorization: Bearer cHJvbWV0aGV1czpzY3JhcGUtc2VjcmV0".to_string(),
        ),
        (
            "-H",
            format!("Authorization: Basic {}", "QUFB".repeat(4000)),
        ),
    ];
    for (flag, value) in &wrong {
        let r = curl(&["--cacert", ca, flag, value, &url(&exporter, "/metrics")]);
        assert_eq!(r.status, 401, "{flag} {value:.60}: {r:?}");
        assert_eq!(r.header("www-authenticate"), Some("Basic"));
    }
    // Larger than any header a scrape sends: refused before authentication.
    let huge = format!("Authorization: Basic {}", "QUFB".repeat(10_000));
    let r = curl(&["--cacert", ca, "-H", &huge, &url(&exporter, "/metrics")]);
    assert_eq!(r.status, 431, "{r:?}");

    // gzip when the client accepts it; curl --compressed decodes it.
    let raw = with("/metrics", &["-H", "Accept-Encoding: gzip"]);
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("content-encoding"), Some("gzip"));
    assert!(raw.body.starts_with(&[0x1f, 0x8b]), "not a gzip stream");
    let decoded = with("/metrics", &["--compressed"]);
    assert_eq!(decoded.header("content-encoding"), Some("gzip"));
    assert!(decoded.text().contains("dbconn_up{target=\"db\"} 1"));
    assert!(decoded.body.len() > raw.body.len());
    let plain = with("/metrics", &[]);
    assert_eq!(plain.header("content-encoding"), None);
    assert!(plain.text().contains("dbconn_up{target=\"db\"} 1"));
    // A client that refuses every encoding, or gzip, gets the body as it is (as Go
    // exporters answer), never 406.
    for refusal in ["identity;q=0", "*;q=0", "gzip;q=0, identity;q=0", "br"] {
        let header = format!("Accept-Encoding: {refusal}");
        let r = with("/metrics", &["-H", &header]);
        assert_eq!(r.status, 200, "{refusal}: {r:?}");
        assert_eq!(r.header("content-encoding"), None, "{refusal}");
        assert!(r.text().contains("dbconn_up{target=\"db\"} 1"), "{refusal}");
        let healthy = curl(&["--cacert", ca, "-H", &header, &url(&exporter, "/-/healthy")]);
        assert_eq!(healthy.status, 200, "{refusal}: {healthy:?}");
        assert_eq!(healthy.text(), "Healthy\n");
    }
    let r = with(
        "/metrics",
        &["-H", "Accept-Encoding: identity;q=0, gzip;q=0.5"],
    );
    assert_eq!(r.header("content-encoding"), Some("gzip"));

    // Plain HTTP to the TLS port gets Go's answer, not a hang.
    let http = curl(&[&format!("http://{}/metrics", exporter.address())]);
    assert_eq!(http.status, 400, "{http:?}");
    assert!(
        http.text()
            .contains("Client sent an HTTP request to an HTTPS server."),
        "{http:?}"
    );
    // And a client that does not trust the CA does not get through.
    let untrusted = curl(&[&url(&exporter, "/-/healthy")]);
    assert_eq!(untrusted.exit, 60, "{untrusted:?}");

    let logs = exporter.logs();
    assert!(logs.contains("http2 is not served"), "{logs}");
    assert!(!logs.contains(PASSWORD), "a password in the logs");
    assert!(!logs.contains(&hash), "a hash in the logs");
}

#[test]
fn client_certificates_are_required_and_verified() {
    let pki = Pki::new();
    let web = write_web_config(
        &pki,
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n  \
             min_version: TLS12\n",
            pki.server.cert.display(),
            pki.server.key.display(),
            pki.ca.cert.display()
        ),
    );
    let exporter = Exporter::start(&[closed_port_target(), web_arg(&web)]);
    let ca = pki.ca.cert.to_str().unwrap();
    let metrics = url(&exporter, "/metrics");
    let good = pki.curl_as(&pki.client, &[&metrics]);
    assert_eq!(good.status, 200, "{good:?}");
    assert!(good.text().contains("dbconn_up{target=\"db\"} 0"));

    let none = curl(&["--cacert", ca, &metrics]);
    assert_eq!(
        none.status, 0,
        "answered without a client certificate: {none:?}"
    );
    assert_ne!(none.exit, 0);
    // Even the open route needs the certificate: TLS comes first.
    let healthy = curl(&["--cacert", ca, &url(&exporter, "/-/healthy")]);
    assert_eq!(healthy.status, 0, "{healthy:?}");
    let rogue = pki.curl_as(&pki.rogue_client, &[&metrics]);
    assert_eq!(
        rogue.status, 0,
        "answered an untrusted certificate: {rogue:?}"
    );
    assert_ne!(rogue.exit, 0);
    // TLS 1.1 is never offered.
    let old = pki.curl_as(&pki.client, &["--tlsv1.1", "--tls-max", "1.1", &metrics]);
    assert_eq!(old.status, 0, "{old:?}");
}

#[test]
fn certificates_rotate_without_restart() {
    let pki = Pki::new();
    let live = support::tls::Pair {
        cert: pki.dir().join("live.crt"),
        key: pki.dir().join("live.key"),
    };
    std::fs::copy(&pki.server.cert, &live.cert).unwrap();
    std::fs::copy(&pki.server.key, &live.key).unwrap();
    let web = write_web_config(
        &pki,
        "tls_server_config:\n  cert_file: live.crt\n  key_file: live.key\n",
    );
    let exporter = Exporter::start(&[closed_port_target(), web_arg(&web)]);
    let address = exporter.address().to_string();
    assert_eq!(
        served_serial(&address, &pki.ca.cert).as_deref(),
        Some("03E9"),
        "serial 1001 at start"
    );

    // Replace the files as a renewal does (new key first, then the certificate).
    let renewed = pki.server_cert("renewed", 5001);
    std::fs::copy(&renewed.key, pki.dir().join("live.key.new")).unwrap();
    std::fs::rename(pki.dir().join("live.key.new"), &live.key).unwrap();
    std::fs::copy(&renewed.cert, pki.dir().join("live.crt.new")).unwrap();
    std::fs::rename(pki.dir().join("live.crt.new"), &live.cert).unwrap();
    wait_for(
        "the renewed certificate (serial 5001) on a new connection",
        || (served_serial(&address, &pki.ca.cert).as_deref() == Some("1389")).then_some(()),
    );
    let r = curl(&[
        "--cacert",
        pki.ca.cert.to_str().unwrap(),
        &url(&exporter, "/-/healthy"),
    ]);
    assert_eq!(r.status, 200, "{r:?}");

    // A broken new certificate: the previous one keeps serving, and the log says why.
    std::fs::write(&live.cert, "not a certificate\n").unwrap();
    // Files are looked at when a connection arrives: each poll connects.
    wait_for("the log line about the broken certificate", || {
        assert_eq!(
            served_serial(&address, &pki.ca.cert).as_deref(),
            Some("1389")
        );
        exporter
            .logs()
            .contains("TLS certificate files changed but do not load")
            .then_some(())
    });
    assert!(exporter.logs().contains("holds no PEM certificate"));
    assert_eq!(
        served_serial(&address, &pki.ca.cert).as_deref(),
        Some("1389")
    );
}

/// Shaped as a bcrypt hash (never checked), with a marker no output may show.
const FAKE_HASH: &str = "$2y$10$TopSecretTopSecretTopSecretTopSecretTopSecretTopSecr";

#[test]
fn bad_web_config_files_are_refused_at_start() {
    let pki = Pki::new();
    let garbage = pki.dir().join("garbage.pem");
    std::fs::write(&garbage, "TopSecretGarbage\n").unwrap();
    let cert = pki.server.cert.display().to_string();
    let key = pki.server.key.display().to_string();
    let tls = format!("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n");
    let cases: Vec<(String, &str)> = vec![
        ("tls_server_config: [\n".into(), "web config file"),
        (
            "tls_server_config:\n  cert_filse: TopSecret.crt\n".into(),
            "unknown field `cert_filse`",
        ),
        (
            format!(
                "tls_server_config:\n  cert_file: {cert}\n  key_file: /nonexistent/server.key\n"
            ),
            "cannot read /nonexistent/server.key",
        ),
        (
            format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {key}\n",
                garbage.display()
            ),
            "holds no PEM certificate",
        ),
        (
            format!(
                "tls_server_config:\n  cert_file: {cert}\n  key_file: {}\n",
                pki.client.key.display()
            ),
            "key_file",
        ),
        (
            format!("tls_server_config:\n  cert_file: {cert}\n  key: TopSecretKeyMaterial\n"),
            "key: holds no PEM private key",
        ),
        (
            "basic_auth_users:\n  alice: TopSecretNotAHash\n".into(),
            "the password of user \"alice\" is not a bcrypt hash",
        ),
        // A hash where the user name goes: neither the hash nor the name is quoted.
        (
            format!("basic_auth_users:\n  {FAKE_HASH}: alice\n"),
            "a user name looks like a bcrypt hash",
        ),
        (
            format!("basic_auth_users:\n  {FAKE_HASH}: a\n  {FAKE_HASH}: b\n"),
            "line 3, column 3: duplicate mapping key",
        ),
        (
            format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n"),
            "RequireAndVerifyClientCert needs client_ca_file",
        ),
        (
            format!(
                "{tls}  client_auth_type: RequireAnyClientCert\n  client_ca_file: {}\n",
                pki.ca.cert.display()
            ),
            "not supported",
        ),
        (
            format!("{tls}  min_version: TLS10\n"),
            "TLS 1.0 and 1.1 are not offered",
        ),
        (
            "http_server_config:\n  headers:\n    Content-Type: text/html\n".into(),
            "header \"Content-Type\" can not be configured",
        ),
    ];
    for (yaml, expect) in &cases {
        let web = write_web_config(&pki, yaml);
        let (status, printed) =
            Exporter::start_expect_failure(&[closed_port_target(), web_arg(&web)]);
        assert_eq!(status.code(), Some(1), "{yaml}: {printed}");
        assert!(printed.contains(expect), "{yaml}: {printed}");
        assert!(!printed.contains("TopSecret"), "{yaml}: {printed}");
        assert!(!printed.contains("$2y$"), "{yaml}: {printed}");
        assert!(!printed.contains("BEGIN"), "{yaml}: {printed}");
        assert!(!printed.contains("listening"), "{yaml}: {printed}");
    }
    let (status, printed) = Exporter::start_expect_failure(&[
        closed_port_target(),
        "--web.config.file=/nonexistent/web.yml".into(),
    ]);
    assert_eq!(status.code(), Some(1));
    assert!(
        printed.contains("web config file: cannot read /nonexistent/web.yml"),
        "{printed}"
    );
    // --config.check checks the web configuration too.
    let web = write_web_config(&pki, "basic_auth_users:\n  alice: TopSecretNotAHash\n");
    let (status, printed) = Exporter::start_expect_failure(&[
        closed_port_target(),
        web_arg(&web),
        "--config.check".into(),
    ]);
    assert_eq!(status.code(), Some(1), "{printed}");
    assert!(printed.contains("not a bcrypt hash"), "{printed}");
}

#[tokio::test]
async fn a_trickled_tls_handshake_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = Pki::new();
    let web = write_web_config(
        &pki,
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            pki.server.cert.display(),
            pki.server.key.display()
        ),
    );
    let exporter = Exporter::start(&[closed_port_target(), web_arg(&web)]);
    let mut socket = tokio::net::TcpStream::connect(exporter.address())
        .await
        .unwrap();
    // The start of a ClientHello record, and then nothing more.
    socket
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the half-sent handshake was kept open");
    // The exporter still serves the next client.
    let r = curl(&[
        "--cacert",
        pki.ca.cert.to_str().unwrap(),
        &url(&exporter, "/-/healthy"),
    ]);
    assert_eq!(r.status, 200, "{r:?}");
}

#[tokio::test]
async fn prometheus_scrapes_through_tls_client_cert_and_basic_auth() {
    let pg = PgCluster::start(PgOptions::default());
    let pki = Pki::new();
    let web = write_web_config(
        &pki,
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n\
             basic_auth_users:\n  {USER}: {}\n",
            pki.server.cert.display(),
            pki.server.key.display(),
            pki.ca.cert.display(),
            htpasswd_hash(PASSWORD)
        ),
    );
    let exporter = Exporter::start(&[format!("--target=db={}", pg.superuser_dsn()), web_arg(&web)]);
    let password_file = pki.dir().join("password");
    std::fs::write(&password_file, PASSWORD).unwrap();
    let prometheus = Prometheus::start_yaml(&format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n  - job_name: dbconn\n    scheme: https\n    \
         tls_config:\n      ca_file: {ca}\n      cert_file: {cert}\n      key_file: {key}\n    \
         basic_auth:\n      username: {USER}\n      password_file: {password_file}\n    \
         static_configs:\n      - targets: ['{address}']\n",
        ca = pki.ca.cert.display(),
        cert = pki.client.cert.display(),
        key = pki.client.key.display(),
        address = exporter.address(),
        password_file = password_file.display(),
    ));
    prometheus.wait_for_scrapes(1).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = prometheus.query("dbconn_up{target=\"db\"} == 1").await;
        if up.len() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never stored dbconn_up 1:\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[test]
fn rate_limit_answers_429_beyond_the_burst() {
    let pki = Pki::new();
    let web = write_web_config(&pki, "rate_limit:\n  interval: 1h\n  burst: 2\n");
    let exporter = Exporter::start(&[closed_port_target(), web_arg(&web)]);
    let metrics = format!("http://{}/metrics", exporter.address());
    assert_eq!(curl(&[&metrics]).status, 200);
    assert_eq!(curl(&[&metrics]).status, 200);
    let limited = curl(&[&metrics]);
    assert_eq!(limited.status, 429, "{limited:?}");
    // The liveness probe is not limited.
    let healthy = format!("http://{}/-/healthy", exporter.address());
    assert_eq!(curl(&[&healthy]).status, 200);
}

/// A reload (here `POST /-/reload`) reads the web configuration again: a changed
/// password takes effect for the next request, a broken file or one that would turn
/// TLS on fails the reload and changes nothing.
#[test]
fn a_reload_reads_the_web_configuration_again() {
    let pki = Pki::new();
    let users =
        |password: &str| format!("basic_auth_users:\n  {USER}: {}\n", htpasswd_hash(password));
    let web = write_web_config(&pki, &users(PASSWORD));
    let exporter = Exporter::start(&[
        closed_port_target(),
        web_arg(&web),
        "--web.enable-lifecycle".to_string(),
    ]);
    let base = format!("http://{}", exporter.address());
    let metrics = format!("{base}/metrics");
    let reload = format!("{base}/-/reload");
    let old = format!("{USER}:{PASSWORD}");
    let new = format!("{USER}:rotated-secret");
    assert_eq!(curl(&["-u", &old, &metrics]).status, 200);
    assert_eq!(curl(&["-u", &new, &metrics]).status, 401);

    std::fs::write(&web, users("rotated-secret")).unwrap();
    let reloaded = curl(&["-u", &old, "-X", "POST", &reload]);
    assert_eq!(reloaded.status, 200, "{reloaded:?}");
    assert_eq!(curl(&["-u", &old, &metrics]).status, 401);
    assert_eq!(curl(&["-u", &new, &metrics]).status, 200);

    // A hash that is not bcrypt: refused, the rotated password still works.
    std::fs::write(&web, format!("basic_auth_users:\n  {USER}: not-a-hash\n")).unwrap();
    let refused = curl(&["-u", &new, "-X", "POST", &reload]);
    assert_eq!(refused.status, 500, "{refused:?}");
    assert!(!refused.text().contains("not-a-hash"), "{}", refused.text());
    assert_eq!(curl(&["-u", &new, &metrics]).status, 200);

    // Turning TLS on needs a restart: refused, still plain HTTP with the same users.
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{}",
            users("rotated-secret")
        ),
    )
    .unwrap();
    let refused = curl(&["-u", &new, "-X", "POST", &reload]);
    assert_eq!(refused.status, 500, "{refused:?}");
    assert!(refused.text().contains("restart"), "{}", refused.text());
    let still = curl(&["-u", &new, &metrics]);
    assert_eq!(still.status, 200, "{still:?}");
    assert!(
        still
            .text()
            .contains("dbconn_config_last_reload_successful 0"),
        "{}",
        still.text()
    );
    assert!(!exporter.logs().contains("rotated-secret"));
}

/// A flood of wrong passwords on held-open connections, more than the connection
/// cap: the line in front of bcrypt is short, so most are answered 429 at once, their
/// connections turn idle and the cap closes them first; a scrape whose password was
/// already checked gets its 200.
#[test]
fn wrong_passwords_do_not_lock_out_a_checked_scrape() {
    use std::io::{Read, Write};
    let pki = Pki::new();
    let web = write_web_config(
        &pki,
        &format!(
            "basic_auth_users:\n  {USER}: {hash}\n  late: {hash}\n",
            hash = htpasswd_hash(PASSWORD)
        ),
    );
    let exporter = Exporter::start(&[
        closed_port_target(),
        web_arg(&web),
        "--web.max-connections=16".to_string(),
    ]);
    let metrics = format!("http://{}/metrics", exporter.address());
    let credentials = format!("{USER}:{PASSWORD}");
    let first = curl(&["-u", &credentials, &metrics]);
    assert_eq!(first.status, 200, "{first:?}");

    // 24 connections, each with 20 requests sent at once (pipelined) and never read.
    let wrong = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:wrong"))
    };
    let request =
        format!("GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {wrong}\r\n\r\n")
            .repeat(20);
    let mut attackers = Vec::new();
    for _ in 0..24 {
        let mut socket = std::net::TcpStream::connect(exporter.address()).unwrap();
        socket.write_all(request.as_bytes()).unwrap();
        attackers.push(socket);
    }

    let scraped = wait_for("a 200 for the checked password during the flood", || {
        let r = curl(&["-u", &credentials, &metrics]);
        (r.status == 200).then_some(r)
    });
    assert!(scraped.text().contains("dbconn_up{target=\"db\"} 0"));

    // What the flood got: 429s without a check, and 401s for those checked.
    let mut answers = String::new();
    for socket in &attackers {
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
    }
    wait_for("both 429s and 401s on the flood's connections", || {
        let mut buf = [0u8; 65536];
        for mut socket in &attackers {
            while let Ok(n @ 1..) = socket.read(&mut buf) {
                answers.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
        (answers.contains("HTTP/1.1 429 ") && answers.contains("HTTP/1.1 401 ")).then_some(())
    });
    assert!(!answers.contains("dbconn_up"));
    assert!(answers.contains("retry-after: 1\r\n"), "{answers:.2000}");
    drop(attackers);
    // A password not yet checked gets in once the line has room again.
    let late = format!("late:{PASSWORD}");
    wait_for("a 200 for a password checked after the flood", || {
        (curl(&["-u", &late, &metrics]).status == 200).then_some(())
    });
}

/// `VerifyClientCertIfGiven` without a client CA (Go checks against the system
/// roots): no certificate gets in, one from a private CA is refused and the reason
/// is logged. `curve_preferences` with only `CurveP521` falls back to the defaults.
#[test]
fn optional_client_certificates_without_a_ca_use_public_roots() {
    let pki = Pki::new();
    let web = write_web_config(
        &pki,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: VerifyClientCertIfGiven\n  curve_preferences: [CurveP521]\n",
    );
    let exporter = Exporter::start(&[closed_port_target(), web_arg(&web)]);
    let ca = pki.ca.cert.to_str().unwrap();
    let metrics = url(&exporter, "/metrics");
    let none = curl(&["--cacert", ca, &metrics]);
    assert_eq!(none.status, 200, "{none:?}");
    let private = pki.curl_as(&pki.client, &[&metrics]);
    assert_ne!(
        private.status, 200,
        "a private CA's certificate: {private:?}"
    );
    wait_for("the refused certificate in the log", || {
        exporter
            .logs()
            .contains("client certificate refused")
            .then_some(())
    });
    let logs = exporter.logs();
    assert!(logs.contains("UnknownIssuer"), "{logs}");
    assert!(
        logs.contains("none of curve_preferences is offered; offering the default curves"),
        "{logs}"
    );
}

/// X.509 version 1 client certificates are refused even from the configured CA
/// (webpki verifies only v3), and the log says why.
#[test]
fn version_1_client_certificates_are_refused_with_the_reason_logged() {
    let pki = Pki::new();
    let v1 = pki.v1_client();
    let web = write_web_config(
        &pki,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    );
    let exporter = Exporter::start(&[closed_port_target(), web_arg(&web)]);
    let r = pki.curl_as(&v1, &[&url(&exporter, "/metrics")]);
    assert_ne!(r.status, 200, "{r:?}");
    wait_for("the refused v1 certificate in the log", || {
        let logs = exporter.logs();
        (logs.contains("client certificate refused") && logs.contains("UnsupportedCertVersion"))
            .then_some(())
    });
    let good = pki.curl_as(&pki.client, &[&url(&exporter, "/metrics")]);
    assert_eq!(good.status, 200, "{good:?}");
}
