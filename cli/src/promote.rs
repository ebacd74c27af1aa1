//! `logwarden promote [--force]`: a planned switchover (or, with `--force`, a standby taking
//! over from a primary that is gone), then a wait until the collector shows its new epoch.

use std::io::Write;

use crate::client::Client;

pub fn run(client: &Client, server: &str, force: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let p = client.promote(force)?;
    writeln!(
        out,
        "site {} is primary at epoch {} (it holds the old primary's log up to LSN {})",
        p.site, p.epoch, p.durable_lsn
    )?;
    // The collectors restart their parts in their new roles: wait until this one shows it.
    let deadline = started + std::time::Duration::from_secs(30);
    loop {
        if let Ok(s) = client.status()
            && s.epoch >= p.epoch
        {
            writeln!(
                out,
                "{} is now {} (switchover took {:.2} s)",
                server,
                s.role,
                started.elapsed().as_secs_f64()
            )?;
            break;
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!(
                "{} did not show epoch {} within 30 s; check `logwarden status` on both collectors",
                server,
                p.epoch
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(())
}
