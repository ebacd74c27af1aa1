//! Splitting a syslog TCP stream into messages: RFC 6587's two framings, detected per
//! connection from its first byte.
//!
//! - Octet counting: `LEN SP MSG`, where `LEN` is the decimal length of `MSG`. A sender's
//!   messages then start with a digit.
//! - Non-transparent framing: messages end with LF (a CR before it is dropped). Messages start
//!   with `<` (the PRI) or, from careless senders, with anything but a digit.
//!
//! A message over the size limit is cut at the limit and flagged; the rest of it is skipped, so
//! one huge message never stalls the connection or the memory of the collector. A malformed
//! octet count (not digits, or too long) is a protocol error: the caller closes that connection.
//!
//! Frames are lent to the caller, not copied out: a copy per message was an allocation and a
//! free per message on the intake's busiest task.

/// One message cut from the stream, borrowed from the framer's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub bytes: &'a [u8],
    /// The message was longer than the limit and was cut.
    pub truncated: bool,
}

/// The sender broke the framing: the connection cannot be read further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad octet count {0:?}: expected decimal digits and a space (RFC 6587)")]
pub struct FramingError(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    OctetCounting,
    Newline,
}

/// The framing state of one connection.
#[derive(Debug)]
pub struct Framer {
    max: usize,
    mode: Option<Mode>,
    buf: Vec<u8>,
    /// Bytes of an oversized message still to skip (octet counting), or `usize::MAX` to skip to
    /// the next LF (newline framing).
    skip: usize,
}

/// Longest accepted octet count prefix (`4294967295` has 10 digits).
const MAX_LEN_DIGITS: usize = 10;

impl Framer {
    pub fn new(max: usize) -> Framer {
        Framer {
            max: max.max(1),
            mode: None,
            buf: Vec::new(),
            skip: 0,
        }
    }

    /// Adds bytes read from the connection and hands `each` the messages they complete, in
    /// order.
    pub fn push(
        &mut self,
        mut data: &[u8],
        mut each: impl FnMut(Frame<'_>),
    ) -> Result<(), FramingError> {
        while !data.is_empty() {
            if self.skip > 0 {
                data = self.skip_some(data);
                continue;
            }
            if self.mode.is_none() {
                // Leading blank space carries nothing; the first byte after it decides.
                let start = data.iter().position(|b| !b.is_ascii_whitespace());
                let Some(start) = start else { return Ok(()) };
                data = &data[start..];
                self.mode = Some(if data[0].is_ascii_digit() {
                    Mode::OctetCounting
                } else {
                    Mode::Newline
                });
            }
            self.buf.extend_from_slice(data);
            data = &[];
            // Everything is in `buf` now; a skip started below applies to later pushes.
            match self.mode {
                Some(Mode::Newline) => self.frames_by_newline(&mut each),
                _ => self.frames_by_count(&mut each)?,
            }
        }
        Ok(())
    }

    /// At the end of the stream: what is left, if anything (a last line without LF, or a cut
    /// octet-counted message, flagged truncated).
    pub fn finish(&mut self) -> Option<Frame<'_>> {
        let bytes = &self.buf[..];
        match self.mode {
            Some(Mode::Newline) if !bytes.iter().all(u8::is_ascii_whitespace) => Some(Frame {
                bytes: strip_cr(bytes),
                truncated: false,
            }),
            Some(Mode::OctetCounting) => {
                let sp = memchr::memchr(b' ', bytes)?;
                let msg = &bytes[sp + 1..];
                (!msg.is_empty()).then_some(Frame {
                    bytes: msg,
                    truncated: true,
                })
            }
            _ => None,
        }
    }

    fn skip_some<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        if self.skip == usize::MAX {
            match find_lf(data) {
                Some(i) => {
                    self.skip = 0;
                    &data[i + 1..]
                }
                None => &[],
            }
        } else {
            let n = self.skip.min(data.len());
            self.skip -= n;
            &data[n..]
        }
    }

    fn frames_by_newline(&mut self, each: &mut impl FnMut(Frame<'_>)) {
        let mut start = 0;
        while let Some(i) = find_lf(&self.buf[start..]) {
            let line = &self.buf[start..start + i];
            if !line.iter().all(u8::is_ascii_whitespace) {
                let truncated = line.len() > self.max;
                let keep = &line[..line.len().min(self.max)];
                each(Frame {
                    bytes: strip_cr(keep),
                    truncated,
                });
            }
            start += i + 1;
        }
        self.buf.drain(..start);
        if self.buf.len() > self.max {
            // No LF within the limit: emit what fits, skip the rest of the line.
            each(Frame {
                bytes: &self.buf[..self.max],
                truncated: true,
            });
            self.buf.clear();
            self.skip = usize::MAX;
        }
    }

    /// Cuts counted messages from `buf`. A cursor walks it and what was read is drained once at
    /// the end: draining each message would move the rest of the read every time (a 64 KiB read
    /// of short messages moved ~16 MiB).
    fn frames_by_count(&mut self, each: &mut impl FnMut(Frame<'_>)) -> Result<(), FramingError> {
        let mut at = 0;
        let result = loop {
            // Blank space between frames is tolerated (some senders add LF after each).
            at += self.buf[at..]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
            let buf = &self.buf[at..];
            let Some(sp) = memchr::memchr(b' ', buf) else {
                if buf.len() > MAX_LEN_DIGITS || !buf.iter().all(u8::is_ascii_digit) {
                    break Err(bad(buf));
                }
                break Ok(());
            };
            let digits = &buf[..sp];
            if digits.is_empty()
                || digits.len() > MAX_LEN_DIGITS
                || !digits.iter().all(u8::is_ascii_digit)
            {
                break Err(bad(digits));
            }
            let Some(len) = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse::<usize>().ok())
            else {
                break Err(bad(digits));
            };
            let body = &buf[sp + 1..];
            if len > self.max {
                // Keep the first `max` bytes once they are here, then skip the rest.
                if body.len() < self.max {
                    break Ok(());
                }
                each(Frame {
                    bytes: &body[..self.max],
                    truncated: true,
                });
                if body.len() >= len {
                    at += sp + 1 + len;
                    continue;
                }
                self.skip = len - body.len();
                at = self.buf.len();
                break Ok(());
            }
            if body.len() < len {
                break Ok(());
            }
            if len > 0 {
                each(Frame {
                    bytes: strip_newline(&body[..len]),
                    truncated: false,
                });
            }
            at += sp + 1 + len;
        };
        self.buf.drain(..at);
        result
    }
}

fn bad(bytes: &[u8]) -> FramingError {
    FramingError(String::from_utf8_lossy(&bytes[..bytes.len().min(20)]).into_owned())
}

fn find_lf(hay: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', hay)
}

fn strip_cr(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// Octet-counted senders sometimes count a trailing LF into the message.
fn strip_newline(b: &[u8]) -> &[u8] {
    strip_cr(b.strip_suffix(b"\n").unwrap_or(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as the tests keep it: its text and whether it was cut.
    struct Owned {
        text: String,
        truncated: bool,
    }

    impl From<Frame<'_>> for Owned {
        fn from(f: Frame<'_>) -> Owned {
            Owned {
                text: String::from_utf8_lossy(f.bytes).into_owned(),
                truncated: f.truncated,
            }
        }
    }

    fn texts(frames: &[Owned]) -> Vec<&str> {
        frames.iter().map(|f| f.text.as_str()).collect()
    }

    /// Feeds `input` in pieces of every size from 1 to 7 bytes, and whole: framing must not
    /// depend on how the network cut the stream.
    fn frames_in_pieces(input: &[u8], max: usize) -> Vec<Vec<Owned>> {
        (1..=7)
            .chain([input.len().max(1)])
            .map(|piece| {
                let mut f = Framer::new(max);
                let mut out = Vec::new();
                for chunk in input.chunks(piece) {
                    f.push(chunk, |frame| out.push(Owned::from(frame))).unwrap();
                }
                out.extend(f.finish().map(Owned::from));
                out
            })
            .collect()
    }

    #[test]
    fn newline_framing_splits_lines_drops_cr_and_keeps_a_last_line_without_lf() {
        for frames in frames_in_pieces(b"<13>one\r\n\n<13>two\n<13>three", 100) {
            assert_eq!(texts(&frames), ["<13>one", "<13>two", "<13>three"]);
        }
    }

    #[test]
    fn octet_counting_is_detected_and_read_whatever_the_chunking() {
        for frames in frames_in_pieces(b"7 <13>one8 <13>two\n\n 9 <13>three", 100) {
            assert_eq!(texts(&frames), ["<13>one", "<13>two", "<13>three"]);
            assert!(frames.iter().all(|f| !f.truncated));
        }
    }

    #[test]
    fn an_oversized_message_is_cut_flagged_and_the_next_one_read() {
        let long = "x".repeat(50);
        let counted = format!("50 {long}5 <1>ok");
        for frames in frames_in_pieces(counted.as_bytes(), 10) {
            assert_eq!(texts(&frames), ["xxxxxxxxxx", "<1>ok"]);
            assert!(frames[0].truncated && !frames[1].truncated);
        }
        let lines = format!("<1>{long}\n<1>ok\n");
        for frames in frames_in_pieces(lines.as_bytes(), 10) {
            assert_eq!(texts(&frames), ["<1>xxxxxxx", "<1>ok"]);
            assert!(frames[0].truncated && !frames[1].truncated);
        }
    }

    #[test]
    fn a_garbage_octet_count_is_a_protocol_error() {
        let mut f = Framer::new(100);
        assert!(f.push(b"12x <1>oops", |_| {}).is_err());
        let mut f = Framer::new(100);
        assert!(f.push(b"99999999999999 <1>", |_| {}).is_err());
    }
}
