//! What `logwarden-agent check` prints when an input cannot be read: the input as the user named
//! it and why.

/// An input a check could not read: `check` prints it and exits non-zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What was being read, as the user named it (`--mdstat /x`, `smart`).
    pub input: String,
    pub error: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.error.starts_with(&self.input) {
            f.write_str(&self.error)
        } else if let Some((flag, path)) = self.input.split_once(' ')
            && self.error.starts_with(path)
        {
            // `--mdstat /x` + `/x: No such file` -> `--mdstat /x: No such file`.
            write!(f, "{flag} {}", self.error)
        } else {
            write!(f, "{}: {}", self.input, self.error)
        }
    }
}
