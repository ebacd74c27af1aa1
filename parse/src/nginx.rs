//! nginx access logs: the `combined` format and Zimbra's proxy format
//! (`/opt/zimbra/log/nginx.access.log`), which adds the client port and the upstream (the
//! mailbox server the request went to):
//!
//! ```text
//! 203.0.113.7:51234 - - [15/Jan/2021:15:57:32 +0100]  "POST /service/soap/AuthRequest HTTP/1.1" 200 1167 "https://mail.example.com/" "Mozilla/5.0 (X11)" "10.0.0.5:8443"
//! 203.0.113.7 - alice [15/Jan/2021:15:57:32 +0100] "GET / HTTP/1.1" 304 0 "-" "curl/8.0"
//! ```
//!
//! Yields the time (the line's own offset), `fields.ip`, `port`, `user`, `method`, `path`,
//! `status`, `bytes`, `referer`, `ua`, `upstream`; `-` values are left out. A 5xx answer is
//! `err`, others `info`. The app is `nginx`.

use serde_json::Value;

use super::Origin;
use super::time::{digits, month};
use logwarden_core::Draft;
use logwarden_core::Severity;

/// Whether the line could be an access log line: an address, then ` - `.
#[inline]
pub fn looks_like(line: &[u8]) -> bool {
    let Some(sp) = line.iter().take(64).position(|&c| c == b' ') else {
        return false;
    };
    sp > 0
        && line[..sp]
            .iter()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, b'.' | b':' | b'[' | b']'))
        && line.get(sp..sp + 3) == Some(b" - ")
}

pub fn parse(text: &str, origin: &mut Origin) -> Option<Draft> {
    if !looks_like(text.as_bytes()) {
        return None;
    }
    let (addr, rest) = text.split_once(" - ")?;
    let (user, rest) = rest.split_once(" [")?;
    let (time, rest) = rest.split_once(']')?;
    let ts = time_local(time)?;
    let rest = rest.trim_start().strip_prefix('"')?;
    let (request, rest) = rest.split_once('"')?;
    let mut nums = rest.trim_start().splitn(3, ' ');
    let status: u16 = nums.next()?.parse().ok()?;
    let bytes = nums.next().and_then(|b| b.parse::<u64>().ok());
    let tail = nums.next().unwrap_or("");

    let mut draft = origin.draft(text.to_owned());
    draft.app = "nginx".into();
    draft.ts = Some(ts);
    draft.severity = if status >= 500 {
        Severity::Err
    } else {
        Severity::Info
    };
    let f = &mut draft.fields;
    // `1.2.3.4:5678`, `[2001:db8::1]:5678`, or a bare address.
    let (ip, port) = match addr.rsplit_once(':') {
        Some((ip, port)) if addr.contains('.') || addr.starts_with('[') => {
            (ip.trim_start_matches('[').trim_end_matches(']'), Some(port))
        }
        _ => (addr, None),
    };
    f.insert("ip".into(), ip.into());
    if let Some(p) = port.and_then(|p| p.parse::<u16>().ok()) {
        f.insert("port".into(), p.into());
    }
    if user != "-" {
        f.insert("user".into(), user.into());
    }
    let mut req = request.splitn(3, ' ');
    if let (Some(method), Some(path)) = (req.next(), req.next()) {
        f.insert("method".into(), method.into());
        f.insert("path".into(), path.into());
    }
    f.insert("status".into(), status.into());
    if let Some(b) = bytes {
        f.insert("bytes".into(), b.into());
    }
    for (name, value) in ["referer", "ua", "upstream"].into_iter().zip(quoted(tail)) {
        if value != "-" && !value.is_empty() {
            f.insert(name.into(), Value::from(value));
        }
    }
    Some(draft)
}

/// The `"..."` strings of the rest of the line, in order.
fn quoted(mut s: &str) -> impl Iterator<Item = &str> {
    std::iter::from_fn(move || {
        let open = s.find('"')?;
        let after = &s[open + 1..];
        let close = after.find('"')?;
        s = &after[close + 1..];
        Some(&after[..close])
    })
}

/// `15/Jan/2021:15:57:32 +0100`.
fn time_local(t: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let b = t.as_bytes();
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(
        digits(&b[7..], 4)? as i32,
        month(&b[3..])?,
        digits(b, 2)?,
    )?;
    let naive = date.and_hms_opt(
        digits(&b[12..], 2)?,
        digits(&b[15..], 2)?,
        digits(&b[18..], 2)?,
    )?;
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let offset = sign * (digits(&b[22..], 2)? as i64 * 3600 + digits(&b[24..], 2)? as i64 * 60);
    Some(chrono::DateTime::from_naive_utc_and_offset(
        naive - chrono::Duration::seconds(offset),
        chrono::Utc,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Zone;

    fn parse_one(line: &str) -> Option<Draft> {
        parse(
            line,
            &mut Origin::for_test("/opt/zimbra/log/nginx.access.log", Zone::Utc),
        )
    }

    #[test]
    fn zimbra_proxy_line_gives_client_request_and_upstream() {
        let d = parse_one(
            r#"203.0.113.7:51234 - - [15/Jan/2021:15:57:32 +0100]  "POST /service/soap/AuthRequest HTTP/1.1" 200 1167 "https://mail.example.com/" "Mozilla/5.0 (X11; Linux x86_64)" "10.0.0.5:8443""#,
        )
        .unwrap();
        assert_eq!(d.ts.unwrap().to_rfc3339(), "2021-01-15T14:57:32+00:00");
        assert_eq!(d.app, "nginx");
        assert_eq!(d.fields["ip"], "203.0.113.7");
        assert_eq!(d.fields["port"], 51234);
        assert_eq!(d.fields["method"], "POST");
        assert_eq!(d.fields["path"], "/service/soap/AuthRequest");
        assert_eq!(d.fields["status"], 200);
        assert_eq!(d.fields["bytes"], 1167);
        assert_eq!(d.fields["referer"], "https://mail.example.com/");
        assert_eq!(d.fields["ua"], "Mozilla/5.0 (X11; Linux x86_64)");
        assert_eq!(d.fields["upstream"], "10.0.0.5:8443");
        assert!(!d.fields.contains_key("user"));
        assert_eq!(d.severity, Severity::Info);
    }

    #[test]
    fn combined_line_with_user_and_server_error() {
        let d = parse_one(
            r#"2001:db8::1 - alice [15/Jan/2021:15:57:32 -0500] "GET /mail HTTP/1.1" 502 0 "-" "curl/8.0""#,
        )
        .unwrap();
        assert_eq!(d.fields["ip"], "2001:db8::1");
        assert!(!d.fields.contains_key("port"));
        assert_eq!(d.fields["user"], "alice");
        assert_eq!(d.fields["status"], 502);
        assert!(!d.fields.contains_key("referer"));
        assert_eq!(d.severity, Severity::Err);
        assert_eq!(d.ts.unwrap().to_rfc3339(), "2021-01-15T20:57:32+00:00");
    }

    #[test]
    fn other_lines_are_not_access_lines() {
        assert!(parse_one("Mar 16 12:00:02 h app: x").is_none());
        assert!(parse_one("1.2.3.4 - - [bad time] \"GET / HTTP/1.1\" 200 1").is_none());
        assert!(parse_one("").is_none());
    }
}
