//! The audit log's file: opened for appending (mode 0640) with its last line read back so the
//! chain can continue, and written one batch at a time, cut back on a failed write or sync so it
//! never keeps half a batch; both on tokio's blocking pool, never on a runtime worker.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};

use super::chain::{self, Resume};
use crate::config::AuditTarget;
use crate::limits::AUDIT_MAX_LINE_BYTES;

/// Where the writer writes.
pub(super) enum Sink {
    File { file: File, regular: bool },
    Stdout(io::Stdout),
}

/// Writes one batch. On a regular file a failed write or sync is cut back off the file, so it
/// never keeps half a batch; the batch is written again whole later.
pub(super) fn write_batch(sink: &mut Sink, buf: &[u8], sync: bool) -> io::Result<()> {
    match sink {
        Sink::Stdout(out) => {
            let mut out = out.lock();
            out.write_all(buf)?;
            out.flush()
        }
        Sink::File {
            file,
            regular: false,
        } => file.write_all(buf),
        Sink::File {
            file,
            regular: true,
        } => {
            let start = file.metadata()?.len();
            let written =
                file.write_all(buf)
                    .and_then(|()| if sync { file.sync_data() } else { Ok(()) });
            if written.is_err() && file.metadata().is_ok_and(|m| m.len() > start) {
                let _ = file.set_len(start);
            }
            written
        }
    }
}

/// Opens the target for appending and reads how its content ends.
pub(super) fn open_blocking(target: &AuditTarget) -> io::Result<(Sink, Resume)> {
    let path = match target {
        AuditTarget::Stdout => return Ok((Sink::Stdout(io::stdout()), Resume::Fresh)),
        AuditTarget::File(p) => p,
    };
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
    let mut file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok((
            Sink::File {
                file,
                regular: false,
            },
            Resume::Fresh,
        ));
    }
    let len = meta.len();
    let n = len.min(AUDIT_MAX_LINE_BYTES as u64 + 1);
    let mut tail = vec![0; usize::try_from(n).unwrap_or(0)];
    file.seek(SeekFrom::Start(len - n))?;
    file.read_exact(&mut tail)?;
    let resume = chain::resume(&tail, n == len);
    Ok((
        Sink::File {
            file,
            regular: true,
        },
        resume,
    ))
}

/// Writes `buf` to `sink` on tokio's blocking pool; the sink and the buffer come back.
pub(super) async fn write_off_thread(
    sink: Option<Sink>,
    buf: Vec<u8>,
    sync: bool,
) -> (Option<Sink>, Option<Vec<u8>>, io::Result<()>) {
    let joined = tokio::task::spawn_blocking(move || match sink {
        Some(mut sink) => {
            let r = write_batch(&mut sink, &buf, sync);
            (Some(sink), Some(buf), r)
        }
        None => (None, Some(buf), Err(io::Error::other("not open"))),
    })
    .await;
    joined.unwrap_or_else(|_| (None, None, Err(io::Error::other("audit write task failed"))))
}

/// Closes `old` and opens the target on tokio's blocking pool.
pub(super) async fn open_off_thread(
    target: AuditTarget,
    old: Option<Sink>,
) -> io::Result<(Sink, Resume)> {
    let joined = tokio::task::spawn_blocking(move || {
        drop(old);
        open_blocking(&target)
    })
    .await;
    joined.unwrap_or_else(|_| Err(io::Error::other("audit open task failed")))
}
