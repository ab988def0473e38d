//! CPU and memory of other processes, read from `/proc`: the exporters and the
//! database servers are separate programs, so their cost is only visible there.

/// Milliseconds per kernel clock tick, the unit of the CPU times below.
pub fn tick_ms() -> f64 {
    // SAFETY: sysconf has no preconditions.
    1000.0 / (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// Fields of /proc/<pid>/stat after the command name: [0] is the state, [1] the
/// parent pid, [11] utime, [12] stime, [13] cutime, [14] cstime.
pub fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    Some(
        rest.split(' ')
            .map(|f| f.trim().parse().unwrap_or(0))
            .collect(),
    )
}

/// utime + stime of a process (all its threads), in ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    stat_fields(pid).map_or(0, |f| f[11] + f[12])
}

/// CPU of a server process and everything under it, in ticks: its own time, the time
/// of the children it already reaped (cutime + cstime, which is where short-lived
/// per-scrape backends end up), and the time of the children alive now.
pub fn tree_cpu_ticks(root: u32) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(f) = stat_fields(pid)
            && f[1] == u64::from(root)
        {
            total += f[11] + f[12];
        }
    }
    total + stat_fields(root).map_or(0, |f| f[11] + f[12] + f[13] + f[14])
}

/// A `Vm…:` line of /proc/<pid>/status, in kB.
pub fn status_kb(pid: u32, key: &str) -> Option<u64> {
    kb_line(&format!("/proc/{pid}/status"), key)
}

/// The machine's memory (`MemTotal:` of /proc/meminfo), in kB.
pub fn mem_total_kb() -> Option<u64> {
    kb_line("/proc/meminfo", "MemTotal:")
}

/// The number on the first line of `path` that starts with `key` (`Key:  123 kB`).
fn kb_line(path: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The model name of the first CPU in /proc/cpuinfo.
pub fn cpu_model() -> Option<String> {
    std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    })
}

/// "2 × CPU model, N GB RAM", for a report's machine line.
pub fn machine() -> String {
    let cpu = cpu_model().unwrap_or_else(|| "unknown CPU".into());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = mem_total_kb().map_or(String::new(), |kb| format!(", {} GB RAM", kb / 1024 / 1024));
    format!("{nproc} × {cpu}{mem}")
}
