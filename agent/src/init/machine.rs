//! The machine `init` inspects: `/` in real use, a fake tree in a temp folder in tests. Every
//! path `init` talks about is the machine's own (`/opt/zimbra/log/mailbox.log`); only reading
//! goes through the root.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Machine {
    root: PathBuf,
}

impl Machine {
    pub fn new(root: &Path) -> Machine {
        Machine {
            root: root.to_owned(),
        }
    }

    /// Where the machine's absolute path `p` is in the inspected tree.
    pub fn at(&self, p: impl AsRef<Path>) -> PathBuf {
        let p = p.as_ref();
        self.root.join(p.strip_prefix("/").unwrap_or(p))
    }

    pub fn exists(&self, p: impl AsRef<Path>) -> bool {
        self.at(p).exists()
    }

    pub fn is_dir(&self, p: impl AsRef<Path>) -> bool {
        self.at(p).is_dir()
    }

    /// The file's text, or `None` when it cannot be read (absent, no permission).
    pub fn read(&self, p: impl AsRef<Path>) -> Option<String> {
        std::fs::read_to_string(self.at(p)).ok()
    }

    /// The names in a folder, sorted; empty when it cannot be read.
    pub fn list(&self, p: impl AsRef<Path>) -> Vec<String> {
        crate::health::lineage::dir_names(&self.at(p))
    }

    /// The first of `candidates` that exists, as the machine's path.
    pub fn first_existing<'a>(&self, candidates: &[&'a str]) -> Option<&'a str> {
        candidates.iter().copied().find(|c| self.exists(c))
    }

    /// The nearest existing parent of the machine's path `p` (or `p` itself), as the machine's
    /// path: where the files of a folder not created yet would go.
    pub fn existing_ancestor(&self, p: &Path) -> PathBuf {
        let mut p = p.to_path_buf();
        while !self.exists(&p) && p.pop() {}
        if p.as_os_str().is_empty() {
            PathBuf::from("/")
        } else {
            p
        }
    }
}
