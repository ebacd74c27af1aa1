//! Disk, RAID, file system and backup health probes. Each probe turns what it reads into
//! [`Draft`](crate::draft::Draft)s of kind `health` whose `fields` follow PRODUCT.md
//! ("Health records").
//!
//! Empty in the walking skeleton: the probes come with the health-probes issue.
