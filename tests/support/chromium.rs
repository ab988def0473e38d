//! Debian's `chromium`, headless, as an on-call engineer's browser: the DOM it
//! rendered, its console log (where a Content Security Policy violation shows),
//! and screenshots.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::proc::{ScratchDir, require_binary};

pub struct Chromium {
    binary: PathBuf,
    profile: ScratchDir,
}

/// What one chromium run printed.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
}

/// What chromium logs when a policy blocks something.
pub const CSP_VIOLATION: &str = "Content Security Policy";

impl Chromium {
    pub fn new() -> Chromium {
        Chromium {
            binary: require_binary("chromium", &["/usr/bin/chromium"]),
            profile: ScratchDir::new("dbconn-chromium"),
        }
    }

    /// Runs headless chromium on `url` with `args`, logging the console to stderr.
    pub fn run(&self, args: &[&str], url: &str) -> Run {
        let output = Command::new(&self.binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--enable-logging=stderr",
                "--v=0",
                &format!("--user-data-dir={}", self.profile.path().display()),
            ])
            .args(args)
            .arg(url)
            .output()
            .expect("run chromium");
        let run = Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(
            output.status.success(),
            "chromium {args:?} {url} failed ({}):\n{}",
            output.status,
            run.stderr
        );
        run
    }

    /// Proves that this chromium logs a policy violation: a page whose policy
    /// blocks its own style block must show one, or the absence of one elsewhere
    /// proves nothing.
    pub fn assert_logs_violations(&self) {
        let control = self.run(
            &["--dump-dom"],
            "data:text/html,<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\"><style>p{}</style><p>x</p>",
        );
        assert!(
            control.stderr.contains(CSP_VIOLATION),
            "chromium's log shows no CSP violation for the control page:\n{}",
            control.stderr
        );
    }

    /// The DOM of `url` after its scripts ran.
    pub fn dom(&self, url: &str) -> Run {
        self.run(&["--dump-dom"], url)
    }

    /// A screenshot of `url` in a `width`×`height` window, written to `path`.
    pub fn screenshot(&self, url: &str, path: &Path, width: u32, height: u32) -> Run {
        let _ = std::fs::remove_file(path);
        self.run(
            &[
                &format!("--screenshot={}", path.display()),
                &format!("--window-size={width},{height}"),
                "--hide-scrollbars",
            ],
            url,
        )
    }
}

/// Fails unless `path` holds a PNG of some size.
pub fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.len() > 1000,
        "{} is {} bytes",
        path.display(),
        bytes.len()
    );
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
}
