//! Cheap change detection for files that are rotated in place (mounted Secrets).

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// How often a watched file's metadata is looked at, at most.
pub const RECHECK: Duration = Duration::from_secs(1);

/// Modification time and length: a rewrite changes at least one of them.
pub type Stamp = (SystemTime, u64);

/// Follows symlinks, so a Secret volume's `..data` swap is seen.
pub fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let meta = fs::metadata(path)?;
    Ok((meta.modified()?, meta.len()))
}
