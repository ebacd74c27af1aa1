//! Printing the answer of `logwarden alerts test`: the synthetic alert, then one line per
//! receiver it reached: `sent` or `REFUSED` with the peer's answer.

use std::io::Write;

use logwarden_core::wire::TestAlertResponse;

use crate::output::Format;

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
