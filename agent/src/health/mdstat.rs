//! A parser for Linux md's `/proc/mdstat`: what the kernel prints, turned into [`MdArray`]s.
//!
//! This module only reads the text; [`raid`](super::raid) decides what it means (state,
//! redundancy left, severity). The format, as printed by `drivers/md/md.c` (`md_seq_show`):
//!
//! ```text
//! Personalities : [raid1] [raid6] [raid5] [raid4]
//! md1 : active raid1 sde1[6](F) sdg1[1] sdb1[4] sdd1[3] sdc1[2]
//!       488383936 blocks [6/4] [_UUUU_]
//!       [=>...]  recovery =  8.5% (16775552/195310144) finish=17.0min speed=259783K/sec
//!       bitmap: 0/10 pages [0KB], 16384KB chunk
//!
//! unused devices: <none>
//! ```
//!
//! What the parser copes with (all of it is in `tests/data/fixtures/mdstat/`):
//! - `active` and `inactive` arrays; `(read-only)` / `(auto-read-only)` after `active`;
//! - member flags `(F)` failed, `(S)` spare, `(W)` write-mostly, `(J)` journal, `(R)` replacement;
//! - arrays without `[n/m]` (raid0, linear, inactive arrays, containers);
//! - continuation lines with no leading white space (some kernels and copy-pastes): a line
//!   starts a new array only when it reads `<name> : ...` with no white space before the name;
//! - progress lines (`recovery`, `resync`, `check`, `repair`, `reshape` with a percentage) and
//!   waiting syncs (`resync=DELAYED`, `resync=PENDING`);
//! - raid10 layouts (`2 near-copies`, `2 offset-copies`, `2 far-copies`).
//!
//! It never trusts the `[UUUU]` of an inactive array: that is for [`raid`](super::raid) to
//! ignore, so the parser keeps it as printed.

/// Why a text is not an mdstat.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MdstatError {
    /// The text does not begin with `Personalities :`: not `/proc/mdstat` (a wrong path, or an
    /// empty file where the kernel has no md driver).
    #[error("not an mdstat: the first line does not start with `Personalities :`")]
    NotMdstat,
    /// An array line without a state word after `:` (`md0 :` and nothing else).
    #[error("line {line}: array {array} has no state (`active` or `inactive`)")]
    NoState { line: usize, array: String },
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mdstat {
    /// The personalities the kernel has loaded (`raid1`, `raid6`, ...), without brackets.
    pub personalities: Vec<String>,
    pub arrays: Vec<MdArray>,
}

/// One array, as printed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MdArray {
    /// `md0`, `md_d0`, `md127`.
    pub name: String,
    /// `active` (true) or `inactive` (false).
    pub active: bool,
    /// `read-only` or `auto-read-only` when the kernel says so.
    pub read_only: Option<String>,
    /// The personality (`raid1`, `raid10`, `linear`, ...); inactive arrays often have none.
    pub level: Option<String>,
    pub members: Vec<Member>,
    /// Size in 1 KiB blocks.
    pub blocks: Option<u64>,
    /// The metadata named after `super` (`1.2`, `external:imsm`, `external:/md127/0`).
    pub superblock: Option<String>,
    /// `n` of `[n/m]`: the devices the array is made of.
    pub raid_disks: Option<u32>,
    /// `m` of `[n/m]`: the devices in sync.
    pub in_sync: Option<u32>,
    /// The `[UU_U]` map as printed, without brackets (`U` in sync, `_` missing or not in sync).
    pub status_map: Option<String>,
    /// raid10: how many copies of each chunk (`2 near-copies`).
    pub copies: Option<u32>,
    /// raid10: `near`, `offset` or `far`.
    pub layout: Option<String>,
    /// A sync running or waiting.
    pub sync: Option<SyncProgress>,
}

/// A member device: `sde1[6](F)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Member {
    /// The block device name (`sde1`, `nvme0n1`, `loop2`).
    pub name: String,
    /// The number in brackets (the descriptor slot, not the position in the map).
    pub slot: Option<u32>,
    /// `(F)`: failed, still attached.
    pub failed: bool,
    /// `(S)`: spare (on an inactive array, every device is printed as a spare).
    pub spare: bool,
    /// `(W)`: write-mostly.
    pub write_mostly: bool,
    /// `(J)`: journal device.
    pub journal: bool,
    /// `(R)`: replacement being rebuilt for another member.
    pub replacement: bool,
}

/// A progress line, or a sync that waits (`resync=DELAYED`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncProgress {
    /// `recovery`, `resync`, `check`, `repair` or `reshape`.
    pub action: String,
    /// Percent done, when running.
    pub percent: Option<f64>,
    /// `delayed`, `pending` (or another word the kernel prints) when the sync waits.
    pub waiting: Option<String>,
    /// Estimated minutes left (`finish=17.0min`).
    pub finish_min: Option<f64>,
    /// `speed=259783K/sec`, in KiB/s.
    pub speed_kib_s: Option<u64>,
}

const SYNC_ACTIONS: [&str; 5] = ["recovery", "resync", "check", "repair", "reshape"];

/// Parses the whole text of `/proc/mdstat`.
pub fn parse(text: &str) -> Result<Mdstat, MdstatError> {
    let mut out = Mdstat::default();
    let mut lines = text.lines().enumerate().peekable();
    // Skip blank lines before the header.
    while lines.peek().is_some_and(|(_, l)| l.trim().is_empty()) {
        lines.next();
    }
    match lines.next() {
        Some((_, l)) if l.starts_with("Personalities") => {
            let rest = l.split_once(':').map(|(_, r)| r).unwrap_or("");
            out.personalities = rest
                .split_whitespace()
                .map(|p| p.trim_matches(|c| c == '[' || c == ']').to_owned())
                .filter(|p| !p.is_empty())
                .collect();
        }
        _ => return Err(MdstatError::NotMdstat),
    }
    for (i, line) in lines {
        if line.trim().is_empty() || line.starts_with("unused devices") {
            continue;
        }
        if let Some((name, rest)) = array_start(line) {
            out.arrays.push(parse_array_line(i + 1, name, rest)?);
            continue;
        }
        // A continuation line (indented or not) of the last array; lines before any array
        // (`read_ahead` on old kernels) are ignored.
        if let Some(array) = out.arrays.last_mut() {
            parse_detail_line(array, line);
        }
    }
    Ok(out)
}

/// `md0 : active ...` -> (`md0`, `active ...`). A continuation line never matches: it starts
/// with white space, with a number (`1234 blocks`), with `[` (progress) or `bitmap:`.
fn array_start(line: &str) -> Option<(&str, &str)> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let (name, rest) = line.split_once(" : ")?;
    if name.is_empty() || name.contains(char::is_whitespace) || name == "Personalities" {
        return None;
    }
    Some((name, rest))
}

fn parse_array_line(line_no: usize, name: &str, rest: &str) -> Result<MdArray, MdstatError> {
    let mut array = MdArray {
        name: name.to_owned(),
        ..MdArray::default()
    };
    let mut tokens = rest.split_whitespace().peekable();
    match tokens.next() {
        Some("active") => array.active = true,
        Some("inactive") => array.active = false,
        _ => {
            return Err(MdstatError::NoState {
                line: line_no,
                array: name.to_owned(),
            });
        }
    }
    if let Some(tok) = tokens.peek()
        && tok.starts_with('(')
        && tok.ends_with(')')
    {
        array.read_only = Some(tok.trim_matches(|c| c == '(' || c == ')').to_owned());
        tokens.next();
    }
    for tok in tokens {
        if let Some(member) = parse_member(tok) {
            array.members.push(member);
        } else if array.level.is_none() && array.members.is_empty() {
            // The personality comes before the members: `raid1`, `linear`, `multipath`.
            array.level = Some(tok.to_owned());
        }
    }
    Ok(array)
}

/// `sde1[6](F)` -> a member; anything without `[digits]` is not one.
fn parse_member(tok: &str) -> Option<Member> {
    let open = tok.find('[')?;
    let close = open + tok[open..].find(']')?;
    let slot: u32 = tok[open + 1..close].parse().ok()?;
    let mut member = Member {
        name: tok[..open].to_owned(),
        slot: Some(slot),
        ..Member::default()
    };
    if member.name.is_empty() {
        return None;
    }
    for flag in tok[close + 1..].split(')') {
        match flag.trim_start_matches('(') {
            "F" => member.failed = true,
            "S" => member.spare = true,
            "W" => member.write_mostly = true,
            "J" => member.journal = true,
            "R" => member.replacement = true,
            _ => {}
        }
    }
    Some(member)
}

/// The lines under an array: sizes and `[n/m] [UU_]`, progress, bitmap.
fn parse_detail_line(array: &mut MdArray, line: &str) {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    if tokens.first() == Some(&"bitmap:") {
        return;
    }
    if let Some(sync) = parse_sync(&tokens) {
        array.sync = Some(sync);
        return;
    }
    for (i, tok) in tokens.iter().enumerate() {
        let next = tokens.get(i + 1).copied();
        match *tok {
            "blocks" if i > 0 => array.blocks = tokens[i - 1].parse().ok(),
            "super" => array.superblock = next.map(str::to_owned),
            _ if tok.starts_with('[') && tok.ends_with(']') && tok.len() >= 2 => {
                let inner = &tok[1..tok.len() - 1];
                if let Some((n, m)) = inner.split_once('/') {
                    if let (Ok(n), Ok(m)) = (n.parse(), m.parse()) {
                        array.raid_disks = Some(n);
                        array.in_sync = Some(m);
                    }
                } else if !inner.is_empty() && inner.chars().all(|c| c == 'U' || c == '_') {
                    array.status_map = Some(inner.to_owned());
                }
            }
            _ => {
                for layout in ["near", "offset", "far"] {
                    if tok.strip_suffix("-copies") == Some(layout)
                        && let Some(copies) = i.checked_sub(1).and_then(|p| tokens[p].parse().ok())
                    {
                        array.copies = Some(copies);
                        array.layout = Some(layout.to_owned());
                    }
                }
            }
        }
    }
}

/// `[=>..]  recovery =  8.5% (1/2) finish=17.0min speed=259783K/sec` or `resync=DELAYED`.
fn parse_sync(tokens: &[&str]) -> Option<SyncProgress> {
    for (i, tok) in tokens.iter().enumerate() {
        for action in SYNC_ACTIONS {
            let value = if *tok == action && tokens.get(i + 1) == Some(&"=") {
                tokens.get(i + 2).copied()
            } else if let Some(v) = tok.strip_prefix(action).and_then(|r| r.strip_prefix('=')) {
                if v.is_empty() {
                    tokens.get(i + 1).copied()
                } else {
                    Some(v)
                }
            } else {
                continue;
            };
            let value = value?;
            let mut sync = SyncProgress {
                action: action.to_owned(),
                ..SyncProgress::default()
            };
            if let Some(p) = value.strip_suffix('%') {
                sync.percent = p.parse().ok();
            } else {
                sync.waiting = Some(value.to_ascii_lowercase());
            }
            for t in &tokens[i..] {
                if let Some(f) = t.strip_prefix("finish=") {
                    sync.finish_min = f.trim_end_matches("min").parse().ok();
                } else if let Some(s) = t.strip_prefix("speed=") {
                    sync.speed_kib_s = s.trim_end_matches("K/sec").parse().ok();
                }
            }
            return Some(sync);
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../tests/data/fixtures/mdstat/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    fn array<'a>(m: &'a Mdstat, name: &str) -> &'a MdArray {
        m.arrays
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no {name} in {m:?}"))
    }

    #[test]
    fn an_empty_mdstat_without_trailing_newline_has_no_arrays() {
        let m = parse(&fixture("empty.txt")).unwrap();
        assert!(m.arrays.is_empty());
        assert!(m.personalities.is_empty());
    }

    #[test]
    fn a_text_that_is_not_mdstat_is_refused() {
        assert_eq!(parse("hello\n"), Err(MdstatError::NotMdstat));
        assert_eq!(parse(""), Err(MdstatError::NotMdstat));
    }

    #[test]
    fn an_array_line_without_state_is_an_error_naming_the_line() {
        let err = parse("Personalities : [raid1]\nmd0 : \n").unwrap_err();
        assert!(matches!(err, MdstatError::NoState { line: 2, .. }), "{err}");
    }

    #[test]
    fn members_flags_counts_and_map_are_read_from_a_failed_raid1() {
        let m = parse(&fixture("raid1_failed_disk.txt")).unwrap();
        let md1 = array(&m, "md1");
        assert!(md1.active);
        assert_eq!(md1.level.as_deref(), Some("raid1"));
        assert_eq!(md1.members.len(), 5);
        assert_eq!(md1.members[0].name, "sde1");
        assert_eq!(md1.members[0].slot, Some(6));
        assert!(md1.members[0].failed);
        assert_eq!((md1.raid_disks, md1.in_sync), (Some(6), Some(4)));
        assert_eq!(md1.status_map.as_deref(), Some("_UUUU_"));
        assert_eq!(md1.blocks, Some(488383936));
    }

    #[test]
    fn recovery_progress_finish_and_speed_are_read() {
        let m = parse(&fixture("raid5_recovery.txt")).unwrap();
        let sync = array(&m, "md127").sync.clone().unwrap();
        assert_eq!(sync.action, "recovery");
        assert_eq!(sync.percent, Some(12.6));
        assert_eq!(sync.finish_min, Some(127.5));
        assert_eq!(sync.speed_kib_s, Some(33440));
    }

    #[test]
    fn unindented_continuation_lines_belong_to_the_array_above() {
        let m = parse(&fixture("raid6_unindented.txt")).unwrap();
        assert_eq!(m.arrays.len(), 4);
        let md3 = array(&m, "md3");
        assert_eq!((md3.raid_disks, md3.in_sync), (Some(8), Some(8)));
        assert_eq!(md3.superblock.as_deref(), Some("1.2"));
        assert_eq!(array(&m, "md0").blocks, Some(2490176));
    }

    #[test]
    fn raid10_copies_and_layout_are_read() {
        let m = parse(&fixture("raid10_check_bitmap.txt")).unwrap();
        let md2 = array(&m, "md2");
        assert_eq!(md2.copies, Some(2));
        assert_eq!(md2.layout.as_deref(), Some("near"));
        assert_eq!(md2.sync.as_ref().map(|s| s.action.as_str()), Some("check"));
        assert_eq!(md2.sync.as_ref().and_then(|s| s.percent), Some(94.3));
    }

    #[test]
    fn waiting_syncs_and_read_only_modes_are_read() {
        let m = parse(&fixture("procfs_composite.txt")).unwrap();
        assert_eq!(m.arrays.len(), 18);
        let md9 = array(&m, "md9").sync.clone().unwrap();
        assert_eq!(
            (md9.action.as_str(), md9.waiting.as_deref()),
            ("resync", Some("delayed"))
        );
        let md11 = array(&m, "md11");
        assert_eq!(md11.read_only.as_deref(), Some("auto-read-only"));
        assert_eq!(
            md11.sync.as_ref().and_then(|s| s.waiting.as_deref()),
            Some("pending")
        );
        assert_eq!(array(&m, "md101").read_only.as_deref(), Some("read-only"));
        assert_eq!(array(&m, "md101").level.as_deref(), Some("raid0"));
        assert_eq!(
            array(&m, "md219").superblock.as_deref(),
            Some("external:imsm")
        );
        assert_eq!(array(&m, "md219").level, None);
    }

    #[test]
    fn an_inactive_array_keeps_its_printed_map_for_the_assessor_to_ignore() {
        let m = parse(&fixture("raid5_inactive.txt")).unwrap();
        let md0 = array(&m, "md0");
        assert!(!md0.active);
        assert_eq!(md0.level.as_deref(), Some("raid5"));
        assert_eq!(md0.members.len(), 3);
        assert_eq!(md0.status_map.as_deref(), Some("UUUU"));
    }
}
