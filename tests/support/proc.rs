//! Process plumbing shared by the server harnesses: finding binaries, free ports,
//! scratch directories, and running servers as an unprivileged user (CI runs the
//! suite as root, and neither `initdb` nor `mariadbd` will run as root).

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Finds a binary on PATH or at one of the given paths. A missing binary fails the
/// test: the suite's setup script installs everything it needs.
pub fn require_binary(name: &str, candidates: &[&str]) -> PathBuf {
    if let Some(found) = find_binary(name, candidates) {
        return found;
    }
    panic!("`{name}` is needed by this test and was not found: run scripts/setup.sh");
}

pub fn find_binary(name: &str, candidates: &[&str]) -> Option<PathBuf> {
    for c in candidates {
        let p = PathBuf::from(c);
        if p.is_file() {
            return Some(p);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A port that was free a moment ago. Servers that fail to bind are retried by the
/// harnesses with a new port.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address").port()
}

/// A fresh directory under the system temp dir, removed by [`ScratchDir`]'s Drop.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new(prefix: &str) -> ScratchDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        ScratchDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The user to run a database server as: ourselves when unprivileged, otherwise the
/// named system account (created by the server's Debian package).
#[derive(Clone, Copy, Debug)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    pub fn unprivileged(account: &str) -> Option<RunAs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let name = std::ffi::CString::new(account).expect("account name");
        // SAFETY: getpwnam returns a pointer into static storage or null; we copy the
        // two integers out before any other call can overwrite it.
        let pw = unsafe { libc::getpwnam(name.as_ptr()) };
        assert!(
            !pw.is_null(),
            "running as root and there is no `{account}` account to run the server as"
        );
        // SAFETY: pw is non-null and points at a valid passwd record.
        let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
        Some(RunAs { uid, gid })
    }

    /// Gives `path` (recursively) to this user.
    pub fn chown(&self, path: &Path) {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(path)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown {}", path.display());
    }
}

/// Prepares a command that runs as `run_as` (if given) and dies with the test
/// process, so that a failed or killed test never leaves a server behind.
pub fn server_command(program: &Path, run_as: Option<RunAs>) -> Command {
    let mut cmd = Command::new(program);
    if let Some(u) = run_as {
        // std drops root's supplementary groups itself when it changes the uid.
        cmd.uid(u.uid).gid(u.gid);
    }
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs a command to completion with `input` on stdin.
pub fn run_with_stdin(program: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait for child");
    let _ = writer.join();
    output
}

/// Sends `signal` to a process.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

/// Holds an exclusive `flock` on a file until dropped: serializes work that several
/// test processes might start at once (building a template datadir).
pub struct FileLock(std::fs::File);

impl FileLock {
    pub fn acquire(path: &Path) -> FileLock {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open lock {}: {e}", path.display()));
        // SAFETY: flock on a valid descriptor we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {}", path.display());
        FileLock(file)
    }
}

/// The TCP connections process `pid` holds open to `127.0.0.1:port`, from its file
/// descriptors and the kernel's socket table: what the process holds, whatever any
/// peer has noticed yet.
pub fn tcp_connections_to(pid: u32, port: u16) -> usize {
    let mut inodes = std::collections::HashSet::new();
    if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path())
                && let Some(inode) = link
                    .to_str()
                    .and_then(|l| l.strip_prefix("socket:["))
                    .and_then(|l| l.strip_suffix(']'))
            {
                inodes.insert(inode.to_string());
            }
        }
    }
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    let wanted = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // local, remote, state (01 = established, 02 = SYN sent), ..., inode
            cols.len() > 9
                && cols[2].ends_with(&wanted)
                && matches!(cols[3], "01" | "02")
                && inodes.contains(cols[9])
        })
        .count()
}

/// Server processes of one cluster (children of its postmaster) whose title starts
/// with `postgres: <role> ` — every backend of that role, logging in or logged in,
/// whatever pg_stat_activity shows. Other clusters (another test, another checkout
/// running the suite) are not counted.
pub fn postgres_backends_of(postmaster: u32, role: &str) -> usize {
    let prefix = format!("postgres: {role} ");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter(|e| parent_of(&e.path()) == Some(postmaster))
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|cmdline| String::from_utf8_lossy(cmdline).starts_with(&prefix))
        .count()
}

/// The parent pid of a `/proc/<pid>` entry: the field after the state in `stat`,
/// read after the command name's closing parenthesis (a name may hold spaces).
fn parent_of(proc_dir: &std::path::Path) -> Option<u32> {
    let stat = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}
