//! Which file server a network mount comes from, and which exported volume: the source of an
//! NFS mount is `server:/export/path` (`[2001:db8::5]:/export` for IPv6), of an SMB mount
//! `//server/share/path` (or `\\server\share`). Two mounts from one server, or of one exported
//! volume, die together when the filer does: a backup there is no backup of data there.

/// The server (lower-cased) and the exported volume of a network mount's source: the first two
/// components of an NFS export (`/vol/data` of `/vol/data/zimbra`; `/export` of `/export`), the
/// share of an SMB path. `None` when the source names no server.
pub fn server_and_volume(fstype: &str, source: &str) -> Option<(String, String)> {
    if fstype.starts_with("cifs") || fstype.starts_with("smb") {
        let s = source.replace('\\', "/");
        let rest = s.strip_prefix("//")?;
        let mut parts = rest.split('/').filter(|p| !p.is_empty());
        let server = parts.next()?.to_ascii_lowercase();
        let share = parts.next().unwrap_or("").to_ascii_lowercase();
        return Some((server, format!("/{share}")));
    }
    if fstype.starts_with("nfs") {
        let (server, path) = if let Some(v6) = source.strip_prefix('[') {
            let (host, rest) = v6.split_once(']')?;
            (host, rest.strip_prefix(':')?)
        } else {
            source.split_once(':')?
        };
        if server.is_empty() {
            return None;
        }
        let comps: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let volume = format!(
            "/{}",
            comps.iter().take(2).copied().collect::<Vec<_>>().join("/")
        );
        return Some((server.to_ascii_lowercase(), volume));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfs_and_smb_sources_name_their_server_and_volume() {
        let sv = |t, s| server_and_volume(t, s).map(|(a, b)| format!("{a} {b}"));
        assert_eq!(
            sv("nfs4", "Filer1:/vol/data/zimbra").as_deref(),
            Some("filer1 /vol/data")
        );
        assert_eq!(
            sv("nfs", "10.0.0.5:/export").as_deref(),
            Some("10.0.0.5 /export")
        );
        assert_eq!(
            sv("nfs4", "[2001:db8::5]:/vol/b").as_deref(),
            Some("2001:db8::5 /vol/b")
        );
        assert_eq!(
            sv("cifs", "//FILER1/Backup/zimbra").as_deref(),
            Some("filer1 /backup")
        );
        assert_eq!(
            sv("smb3", r"\\filer1\data").as_deref(),
            Some("filer1 /data")
        );
        assert_eq!(sv("xfs", "/dev/sda1"), None);
        assert_eq!(sv("nfs", "nocolon"), None);
    }
}
