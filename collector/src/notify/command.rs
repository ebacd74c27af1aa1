//! A command run for each notification, with the webhook JSON (Alertmanager's format) on its
//! stdin: for anything that has a CLI but no webhook (an SMS gateway script, a ticket tool).
//! A non-zero exit or a run over the timeout (the child is killed) is a failed delivery.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::error::NotifyError;
use super::notification::Notification;
use super::webhook;

pub async fn send(argv: &[String], timeout: Duration, n: &Notification) -> Result<(), NotifyError> {
    let program = argv.first().cloned().unwrap_or_default();
    let fail = |reason: String| NotifyError::Command {
        program: program.clone(),
        reason,
    };
    let mut child = tokio::process::Command::new(&program)
        .args(&argv[1.min(argv.len())..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    let body = serde_json::to_vec(&webhook::body(n)).expect("JSON always serializes");
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its input is its own business.
            let _ = stdin.write_all(&body).await;
        }
        child.wait_with_output().await
    };
    let out = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| {
            fail(format!(
                "still running after {} s; killed",
                timeout.as_secs()
            ))
        })?
        .map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        let mut err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        err.truncate(300);
        Err(fail(format!("exited with {}: {err}", out.status)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_support::{notification, view};
    use logwarden_core::wire::{AlertSeverity, AlertStatus};

    #[tokio::test]
    async fn the_command_gets_the_json_on_stdin_and_a_failure_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("got.json");
        let n = notification(vec![view(
            "RaidArrayDegraded",
            AlertSeverity::Critical,
            AlertStatus::Firing,
        )]);
        let argv = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            format!("cat > {}", out.display()),
        ];
        send(&argv, Duration::from_secs(10), &n).await.unwrap();
        let got: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(got["alerts"][0]["labels"]["alertname"], "RaidArrayDegraded");

        let argv = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            "echo nope >&2; exit 3".to_owned(),
        ];
        let err = send(&argv, Duration::from_secs(10), &n).await.unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
