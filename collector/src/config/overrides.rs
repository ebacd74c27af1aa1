//! The flags of `logwarden-collector run` that override the file.

use std::path::PathBuf;

/// Flags of `logwarden-collector run` that override the file.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Address of the HTTP API (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
    /// A bearer token accepted for ingest (repeat). Replaces the file's `tokens`.
    #[arg(long = "token", value_name = "TOKEN")]
    pub tokens: Vec<String>,
    /// A file of ingest tokens, one a line (repeat): as `--token`, without showing in `ps`.
    #[arg(long = "token-file", value_name = "FILE")]
    pub token_files: Vec<PathBuf>,
    /// A file of read tokens, one a line (repeat): as `--read-token`.
    #[arg(long = "read-token-file", value_name = "FILE")]
    pub read_token_files: Vec<PathBuf>,
    /// A file of admin tokens, one a line (repeat): as `--admin-token`.
    #[arg(long = "admin-token-file", value_name = "FILE")]
    pub admin_token_files: Vec<PathBuf>,
    /// Syslog UDP address (default 127.0.0.1:5514), or `off`.
    #[arg(long, value_name = "ADDR")]
    pub syslog_udp: Option<String>,
    /// Syslog TCP address (default 127.0.0.1:5514), or `off`.
    #[arg(long, value_name = "ADDR")]
    pub syslog_tcp: Option<String>,
    /// Days of events the index keeps (`[index] retention_days`; 0 keeps them whatever their age).
    #[arg(long, value_name = "DAYS")]
    pub retention_days: Option<u32>,
    /// Syslog over TLS address (default 127.0.0.1:6514 once a certificate is set), or `off`.
    #[arg(long, value_name = "ADDR")]
    pub syslog_tls: Option<String>,
    /// PEM certificate: the API and ingest speak HTTPS, and syslog over TLS listens.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA: only clients with a certificate signed by it complete the TLS handshake.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// A webhook receiver (Alertmanager's format) for every alert (repeat).
    #[arg(long = "webhook", value_name = "URL")]
    pub webhooks: Vec<String>,
    /// A token for acks and silences (repeat). Adds to `[alerts] admin_tokens`.
    #[arg(long = "admin-token", value_name = "TOKEN")]
    pub admin_tokens: Vec<String>,
    /// `primary` or `standby` at the first start (docs/failover.md).
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// The other collector's URL (replication, failover).
    #[arg(long, value_name = "URL")]
    pub peer: Option<String>,
    /// `sync` (default) or `async`.
    #[arg(long, value_name = "MODE")]
    pub replication: Option<String>,
    /// The witness's URL: turns on automatic failover.
    #[arg(long, value_name = "URL")]
    pub witness: Option<String>,
    /// A token for search, count, tail, status, fleet and alert lists (repeat). Adds to
    /// `read_tokens`.
    #[arg(long = "read-token", value_name = "TOKEN")]
    pub read_tokens: Vec<String>,
    /// The tokens file of `logwarden-collector token` (default: `<data dir>/tokens`).
    #[arg(long, value_name = "FILE")]
    pub tokens_file: Option<PathBuf>,
}
