//! The journal export format (`journalctl --output=export`, systemd's "Journal Export Format"):
//! entries separated by an empty line, each field one line `NAME=value`, or, for a value that
//! holds a newline or other binary data, `NAME` on its own line, the value's length as a
//! 64-bit little-endian integer, the value, and a newline.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// Bound on one field's value (journald itself keeps entries under 768 MiB; anything this big
/// is damage or a flood, and is cut).
const MAX_VALUE: u64 = 64 << 20;

/// One journal entry: its fields in the order given (names repeat for multi-valued fields).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub fields: Vec<(String, Vec<u8>)>,
}

impl Entry {
    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `name` as text (invalid UTF-8 replaced).
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// Reads the next entry; `None` at the end of the stream (a last entry without its empty line
/// is still returned).
pub async fn next_entry<R: AsyncBufRead + Unpin>(r: &mut R) -> std::io::Result<Option<Entry>> {
    let mut entry = Entry::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Ok((!entry.fields.is_empty()).then_some(entry));
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text.is_empty() {
            if entry.fields.is_empty() {
                continue;
            }
            return Ok(Some(entry));
        }
        match memchr::memchr(b'=', text) {
            Some(i) => entry.fields.push((
                String::from_utf8_lossy(&text[..i]).into_owned(),
                text[i + 1..].to_vec(),
            )),
            None => {
                let name = String::from_utf8_lossy(text).into_owned();
                let len = r.read_u64_le().await?;
                let mut value = Vec::new();
                (&mut *r)
                    .take(len.min(MAX_VALUE))
                    .read_to_end(&mut value)
                    .await?;
                if len > MAX_VALUE {
                    tokio::io::copy(&mut (&mut *r).take(len - MAX_VALUE), &mut tokio::io::sink())
                        .await?;
                }
                let mut nl = [0u8; 1];
                r.read_exact(&mut nl).await?;
                entry.fields.push((name, value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn text_and_binary_fields_and_entry_ends_are_read() {
        let mut bytes = b"__CURSOR=s=1;i=1\nMESSAGE=hello\nPRIORITY=3\n\n".to_vec();
        bytes.extend_from_slice(b"__CURSOR=s=1;i=2\nMESSAGE\n");
        bytes.extend_from_slice(&11u64.to_le_bytes());
        bytes.extend_from_slice(b"two\nlines\x00!\n");
        bytes.extend_from_slice(b"_PID=7\n");
        let mut r = tokio::io::BufReader::new(&bytes[..]);
        let a = next_entry(&mut r).await.unwrap().unwrap();
        assert_eq!(a.text("MESSAGE").as_deref(), Some("hello"));
        assert_eq!(a.text("PRIORITY").as_deref(), Some("3"));
        let b = next_entry(&mut r).await.unwrap().unwrap();
        assert_eq!(b.get("MESSAGE"), Some(&b"two\nlines\x00!"[..]));
        assert_eq!(b.text("_PID").as_deref(), Some("7"));
        assert_eq!(b.text("__CURSOR").as_deref(), Some("s=1;i=2"));
        assert!(next_entry(&mut r).await.unwrap().is_none());
    }
}
