//! Reading audit log files as one sequence of lines, with their hashes and chain fields, and one
//! line of lookahead; a line longer than any the gateway writes is read no further.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

use crate::audit::chain::{self, Digest, Link};
use crate::audit::checkpoint::{self, Checkpoint};
use crate::limits::AUDIT_MAX_LINE_BYTES;

/// A file that could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub struct VerifyError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// One line as read: where it is, its hash, its chain fields if it is a record.
#[derive(Debug, Clone)]
pub(super) struct Rec {
    pub(super) file: usize,
    pub(super) line: u64,
    pub(super) hash: Digest,
    pub(super) link: Option<Link>,
    /// A checkpoint line's fields, when it is a well-formed one.
    pub(super) checkpoint: Option<Checkpoint>,
    pub(super) newline: bool,
    pub(super) overlong: bool,
}

/// The lines of every file, in order, with one line of lookahead.
pub(super) struct Lines<'a> {
    files: &'a [PathBuf],
    next_file: usize,
    reader: Option<(usize, u64, BufReader<File>)>,
    peeked: Option<Rec>,
    buf: Vec<u8>,
}

impl<'a> Lines<'a> {
    pub(super) fn new(files: &'a [PathBuf]) -> Self {
        Lines {
            files,
            next_file: 0,
            reader: None,
            peeked: None,
            buf: Vec::new(),
        }
    }

    pub(super) fn next(&mut self) -> Result<Option<Rec>, VerifyError> {
        if let Some(r) = self.peeked.take() {
            return Ok(Some(r));
        }
        self.read()
    }

    pub(super) fn peek(&mut self) -> Result<Option<&Rec>, VerifyError> {
        if self.peeked.is_none() {
            self.peeked = self.read()?;
        }
        Ok(self.peeked.as_ref())
    }

    fn read(&mut self) -> Result<Option<Rec>, VerifyError> {
        loop {
            let Some((file, line, reader)) = &mut self.reader else {
                let Some(path) = self.files.get(self.next_file) else {
                    return Ok(None);
                };
                let f = File::open(path).map_err(|source| VerifyError {
                    path: path.clone(),
                    source,
                })?;
                self.reader = Some((self.next_file, 0, BufReader::new(f)));
                self.next_file += 1;
                continue;
            };
            self.buf.clear();
            let limit = AUDIT_MAX_LINE_BYTES as u64 + 1;
            let n = reader
                .by_ref()
                .take(limit)
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| VerifyError {
                    path: self.files[*file].clone(),
                    source,
                })?;
            if n == 0 {
                self.reader = None;
                continue;
            }
            *line += 1;
            let newline = self.buf.last() == Some(&b'\n');
            let bytes = if newline {
                &self.buf[..self.buf.len() - 1]
            } else {
                &self.buf[..]
            };
            let overlong = bytes.len() > AUDIT_MAX_LINE_BYTES;
            let link = (!overlong).then(|| chain::parse_link(bytes)).flatten();
            let checkpoint = link
                .as_ref()
                .filter(|l| l.kind == checkpoint::KIND)
                .and_then(|_| Checkpoint::from_line(bytes));
            return Ok(Some(Rec {
                file: *file,
                line: *line,
                hash: chain::digest(bytes),
                link,
                checkpoint,
                newline,
                overlong,
            }));
        }
    }
}
