//! flags → config → serve, or the `incident` command.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use dbconn_exporter::cli::{Cli, Command};
use dbconn_exporter::config::Config;
use dbconn_exporter::{logging, server};

/// jemalloc, returning freed pages to the system at once. With glibc's malloc a
/// process with many targets kept most of the memory its scrapes had freed, pinned
/// between long-lived session buffers, and grew well past what it used; freed pages
/// going back at once keeps the resident size close to what the targets hold
/// (`cargo bench --bench fleet`, in bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`: purge dirty and muzzy pages immediately.
/// `MALLOC_CONF`-style environment settings (`_RJEM_MALLOC_CONF`) still override it.
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);
// SAFETY: the pointer is to a static string that is never written.
unsafe impl Sync for MallocConf {}
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: MallocConf = MallocConf(c"dirty_decay_ms:0,muzzy_decay_ms:0".as_ptr());

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Incident(args)) = &cli.command {
        return incident(&cli, args);
    }
    let config = match Config::load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dbconn_exporter: configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.config_check {
        if let Err(e) = dbconn_exporter::web::Web::load(cli.web_config_file.as_deref()) {
            eprintln!("dbconn_exporter: {e}");
            return ExitCode::FAILURE;
        }
        println!(
            "configuration OK: {} target(s): {}",
            config.targets.len(),
            config
                .targets
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return ExitCode::SUCCESS;
    }
    logging::init(&cli.log_level, &cli.log_format);
    // One thread: the exporter waits on sockets nearly all the time, and a second
    // worker only added cross-thread wake-ups to every database message (measured
    // with `cargo bench --bench peers -- --engine pg 10 100`: p50 0.40 -> 0.37 ms,
    // CPU 0.17 -> 0.13 ms per scrape, peak RSS 8.6 -> 7.7 MB).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dbconn_exporter: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(server::serve(cli, config));
    // The shutdown is bounded: a DNS lookup stuck in a blocking thread must not hold
    // the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "exiting");
            eprintln!("dbconn_exporter: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The `incident` command: one report to stdout, errors to stderr, exit 1 on error.
fn incident(cli: &Cli, args: &dbconn_exporter::cli::IncidentArgs) -> ExitCode {
    // Warnings (a refused connect and why) go to stderr; the report alone to stdout.
    let level = if cli.log_level == "info" {
        "warn"
    } else {
        cli.log_level.as_str()
    };
    logging::init(level, &cli.log_format);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dbconn_exporter incident: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dbconn_exporter::incident_command::run(args));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(out) => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dbconn_exporter incident: {e}");
            ExitCode::FAILURE
        }
    }
}
