//! The flags and the environment variables that stand in for them, as clap parses
//! them. Nothing here judges a value beyond its type: [`crate::config::Config::load`]
//! turns a [`Cli`] into a checked configuration, so the rules live in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The default listen port. The Prometheus "default port allocations" list has no
/// free port left in 9100–9999; see the README for the choice.
pub const DEFAULT_LISTEN_ADDRESS: &str = ":10071";

// Clone: a reload reads the configuration again from the flags given at start.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "dbconn_exporter",
    version,
    about = "Prometheus exporter for database connection saturation (PostgreSQL, MySQL, MariaDB)."
)]
pub struct Cli {
    /// Database to monitor, as a DSN (postgres://user@host:5432/db) or NAME=DSN.
    /// Repeat for several targets; one DSN per flag.
    // The value may hold a password: --help must not print it from the environment.
    #[arg(
        long = "target",
        env = "DBCONN_TARGET",
        value_name = "[NAME=]DSN",
        hide_env_values = true
    )]
    pub targets: Vec<String>,

    /// YAML configuration file with named targets and collection settings.
    #[arg(long = "config.file", env = "DBCONN_CONFIG_FILE", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Check the configuration and exit.
    #[arg(long = "config.check")]
    pub config_check: bool,

    /// Address to listen on for HTTP requests ([host]:port).
    // The brackets are the help text's notation, not a doc link.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long = "web.listen-address", env = "DBCONN_WEB_LISTEN_ADDRESS", default_value = DEFAULT_LISTEN_ADDRESS)]
    pub listen_address: String,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        env = "DBCONN_WEB_TELEMETRY_PATH",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", env = "DBCONN_LOG_LEVEL", default_value = "info",
          value_parser = ["debug", "info", "warn", "error"])]
    pub log_level: String,

    /// Output format of log messages.
    #[arg(long = "log.format", env = "DBCONN_LOG_FORMAT", default_value = "text",
          value_parser = ["text", "json"])]
    pub log_format: String,

    /// Most HTTP connections open at once (lowered to fit the open-file limit); when
    /// full, the connection that waited longest for a request is closed.
    #[arg(long = "web.max-connections", env = "DBCONN_WEB_MAX_CONNECTIONS",
          default_value_t = crate::server::DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub web_max_connections: u32,

    /// Web configuration file (TLS, basic authentication, response headers) in the
    /// Prometheus exporter-toolkit format.
    #[arg(
        long = "web.config.file",
        env = "DBCONN_WEB_CONFIG_FILE",
        value_name = "FILE"
    )]
    pub web_config_file: Option<PathBuf>,

    /// Enable the lifecycle API: `POST /-/reload` re-reads the configuration, as
    /// SIGHUP does. Without it the route answers 403.
    #[arg(long = "web.enable-lifecycle", env = "DBCONN_WEB_ENABLE_LIFECYCLE",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub web_enable_lifecycle: bool,

    /// Without a command the exporter serves; `incident` prints one report and exits.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Print the incident view of one target (who holds the connections, who blocks
    /// whom, advice and relief statements) and exit. With --exporter it asks a
    /// running exporter, which reads through the session it already holds (no new
    /// database login); without, it opens one session to the DSN itself.
    Incident(IncidentArgs),
}

#[derive(Args, Debug, Clone)]
pub struct IncidentArgs {
    /// Base URL of a running exporter (http[s]://host:port[/prefix]). Without it,
    /// --target is a DSN and one session is opened to it.
    // The brackets are the help text's notation, not a doc link.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, value_name = "URL")]
    pub exporter: Option<String>,

    /// With --exporter, the target's name there; without, the database's DSN
    /// ([NAME=]DSN).
    #[arg(long, value_name = "NAME|DSN")]
    pub target: String,

    /// `text` for a terminal, `json` for the report as the API serves it.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub output: String,

    /// With --exporter over https: trust the CA certificates in this PEM file
    /// instead of the bundled Mozilla roots.
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// With --exporter: the basic authentication user; the password is read from
    /// DBCONN_INCIDENT_PASSWORD.
    #[arg(long = "basic-auth-user", value_name = "USER")]
    pub basic_auth_user: Option<String>,

    /// How long to wait for the report (connect and read), in seconds.
    #[arg(long = "timeout", value_name = "SECONDS", default_value_t = 30.0,
          value_parser = parse_timeout)]
    pub timeout: f64,

    /// Without --exporter: the configuration file whose `collection:` and
    /// `incident:` settings the read uses (its targets are ignored).
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    let secs: f64 = s
        .trim_end_matches('s')
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.1..=3600.0).contains(&secs) {
        return Err(format!("must be between 0.1 and 3600 seconds, got {s}"));
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_hides_the_target_from_the_environment() {
        use clap::CommandFactory;
        let target = Cli::command()
            .get_arguments()
            .find(|a| a.get_id() == "targets")
            .map(|a| a.is_hide_env_values_set());
        assert_eq!(target, Some(true));
    }
}
