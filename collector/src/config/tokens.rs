//! Tokens given outside the config file: flags, token files and environment variables.

use std::path::PathBuf;

use anyhow::bail;

use super::overrides::Overrides;
use crate::auth::ConfigTokens;
use crate::replication::ReplicationSettings;

/// The tokens of a role given outside the config file: its flag's values, the lines of its
/// token files, and its environment variable (files and the environment keep tokens out of
/// `ps`).
fn tokens_from(flag: Vec<String>, files: &[PathBuf], env: &str) -> anyhow::Result<Vec<String>> {
    let mut tokens = flag;
    for f in files {
        tokens.extend(logwarden_core::token_file::read_tokens(f)?);
    }
    if let Ok(t) = std::env::var(env)
        && !t.trim().is_empty()
    {
        tokens.push(t.trim().to_owned());
    }
    Ok(tokens)
}

/// The ingest tokens: the flags', token files' and environment's, or else the file's.
pub(super) fn ingest(file: Vec<String>, flags: &Overrides) -> anyhow::Result<Vec<String>> {
    let tokens = tokens_from(
        flags.tokens.clone(),
        &flags.token_files,
        "LOGWARDEN_INGEST_TOKEN",
    )?;
    let tokens = if tokens.is_empty() { file } else { tokens };
    if tokens.iter().any(|t| t.trim().is_empty()) {
        bail!("an empty token is not allowed");
    }
    Ok(tokens)
}

/// The plain tokens by role: read and admin tokens of the file with those given outside it
/// added, and the replication token.
pub(super) fn config_tokens(
    ingest: Vec<String>,
    mut read: Vec<String>,
    mut admin: Vec<String>,
    replication: &ReplicationSettings,
    flags: &Overrides,
) -> anyhow::Result<ConfigTokens> {
    admin.extend(tokens_from(
        flags.admin_tokens.clone(),
        &flags.admin_token_files,
        "LOGWARDEN_ADMIN_TOKEN",
    )?);
    if admin.iter().any(|t| t.trim().is_empty()) {
        bail!("an empty admin token is not allowed");
    }
    read.extend(tokens_from(
        flags.read_tokens.clone(),
        &flags.read_token_files,
        "LOGWARDEN_READ_TOKEN",
    )?);
    if read.iter().any(|t| t.trim().is_empty()) {
        bail!("an empty read token is not allowed");
    }
    Ok(ConfigTokens {
        ingest,
        read,
        admin,
        replication: replication.token.iter().cloned().collect(),
    })
}
