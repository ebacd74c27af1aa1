//! `logwarden alerts test`: a synthetic alert sent through the collector's routes, and its
//! answer printed: the alert, then one line per receiver it reached, `sent` or `REFUSED` with
//! the peer's answer.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::client::Client;

use logwarden_core::wire::TestAlertResponse;

use crate::output::Format;

/// Sends it; exit 1 if any receiver refused or none was reached.
pub fn run(
    client: &Client,
    receiver: Option<String>,
    labels: &[String],
    output: Format,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let mut map = std::collections::BTreeMap::new();
    for part in labels.iter().flat_map(|l| l.split(',')) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part
            .split_once('=')
            .with_context(|| format!("label {part:?} is not name=value"))?;
        map.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    let resp = client.test_alert(&logwarden_core::wire::TestAlertRequest {
        receiver,
        labels: map,
    })?;
    print(out, &resp, output)?;
    let ok = !resp.outcomes.is_empty() && resp.outcomes.iter().all(|o| o.sent);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn print(out: &mut impl Write, r: &TestAlertResponse, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        serde_json::to_writer(&mut *out, r)?;
        writeln!(out)?;
        return Ok(());
    }
    let labels: Vec<String> = r
        .alert
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    writeln!(
        out,
        "test alert {} ({}) {} id {}",
        r.alert.name,
        r.alert.severity,
        labels.join(" "),
        r.alert.id
    )?;
    if r.outcomes.is_empty() {
        writeln!(out, "no receiver: the routes send these labels nowhere")?;
    }
    for o in &r.outcomes {
        match &o.error {
            None => writeln!(
                out,
                "sent     {} ({}, route {}) in {} ms",
                o.receiver, o.kind, o.route, o.elapsed_ms
            )?,
            Some(e) => writeln!(
                out,
                "REFUSED  {} ({}, route {}): {e}",
                o.receiver, o.kind, o.route
            )?,
        }
    }
    Ok(())
}
