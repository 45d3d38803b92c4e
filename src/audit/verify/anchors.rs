//! Reading anchors: the checkpoints the gateway logged to its operational log, from a log file,
//! `journalctl` output (any format that keeps the message text) or a JSON log, line by line,
//! bounded in line length and in count.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

use super::lines::VerifyError;
use crate::audit::checkpoint::Checkpoint;
use crate::limits::{AUDIT_MAX_ANCHORS, AUDIT_MAX_LINE_BYTES};

/// Every anchor in `paths`, in order. Lines without one (or longer than any anchor) are skipped.
pub fn read_anchors(paths: &[PathBuf]) -> Result<Vec<Checkpoint>, VerifyError> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for path in paths {
        let fail = |source| VerifyError {
            path: path.clone(),
            source,
        };
        let mut reader = BufReader::new(File::open(path).map_err(fail)?);
        // Inside a line longer than any anchor: read on to its end, a bounded piece at a time.
        let mut skipping = false;
        loop {
            buf.clear();
            let limit = AUDIT_MAX_LINE_BYTES as u64 + 1;
            let n = reader
                .by_ref()
                .take(limit)
                .read_until(b'\n', &mut buf)
                .map_err(fail)?;
            if n == 0 {
                break;
            }
            let whole = buf.last() == Some(&b'\n');
            if skipping || !whole && buf.len() > AUDIT_MAX_LINE_BYTES {
                skipping = !whole;
                continue;
            }
            if let Some(cp) = Checkpoint::from_anchor(&String::from_utf8_lossy(&buf)) {
                if out.len() >= AUDIT_MAX_ANCHORS {
                    let why = format!(
                        "more than {AUDIT_MAX_ANCHORS} checkpoints: give a shorter extract"
                    );
                    return Err(fail(io::Error::new(io::ErrorKind::InvalidData, why)));
                }
                out.push(cp);
            }
        }
    }
    Ok(out)
}
