//! HTTP/1.1 requests followed as their bytes arrive, for what hyper's parsed request no longer
//! shows or what hyper would wait for:
//! - a `#` in a request line's target: the `http` crate drops a fragment while parsing, so
//!   `/ledgers#/../api-keys` would reach the pipeline as `/ledgers`. The head's number is noted in
//!   `proxy::seen`, and the pipeline refuses that request (400 `GATEWAY_BAD_PATH`);
//! - a chunk size over 2^63 - 1: hyper accepts any size that fits 64 bits and would wait for that
//!   many bytes until the body deadline (408 after 30 s). The stream is cut there instead (the
//!   bytes before it are delivered, the next read fails), so the body breaks off at once and the
//!   pipeline answers 400 `GATEWAY_BAD_REQUEST`.
//!
//! Each message's framing is followed as hyper reads a request (`Transfer-Encoding` ending in
//! `chunked` wins over `Content-Length`; neither is no body) only to find where the next request
//! line starts. hyper stays the parser: what it refuses ends the connection. Whatever this
//! follower does not understand makes it stop following, so it never refuses anything on a guess.

use crate::proxy::seen::Seen;

/// A line longer than this (hyper's own head limit is smaller) stops the follower.
const MAX_LINE: usize = 64 * 1024;
/// The largest chunk size let through: beyond it no body can be read whole, and 64-bit signed
/// lengths (Go's, Blnk's) overflow.
const MAX_CHUNK: u64 = i64::MAX as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a request line (empty lines are skipped).
    Start,
    Method,
    Target,
    /// The rest of the request line.
    Version,
    /// Header lines, until an empty one.
    Fields,
    Fixed(u64),
    ChunkSize(u64),
    /// A chunk extension or whitespace, to the end of the size line.
    ChunkLine(u64),
    ChunkData(u64),
    /// The line end after a chunk's data.
    ChunkEnd,
    Trailers,
    /// Something this follower does not understand: it follows no further.
    Lost,
}

/// What one move of the follower did.
enum Step {
    /// Consumed this many bytes.
    Took(usize),
    /// Consumed everything given; more is needed.
    Wait,
    /// The stream must be cut this many bytes into what was given.
    Cut(usize),
}

/// Follows one connection's requests (see the module docs).
#[derive(Debug)]
pub(super) struct H1Scan {
    state: State,
    /// Request lines seen: the number of the request being read.
    heads: u64,
    /// The header line being read.
    line: Vec<u8>,
    chunked: bool,
    length: Option<u64>,
}

impl Default for H1Scan {
    fn default() -> Self {
        H1Scan {
            state: State::Start,
            heads: 0,
            line: Vec::new(),
            chunked: false,
            length: None,
        }
    }
}

impl H1Scan {
    /// Follows `bytes`; notes fragments in `seen`. Returns where the stream must be cut (a chunk
    /// size over the limit starts to exceed it at that offset).
    pub(super) fn feed(&mut self, bytes: &[u8], seen: Option<&Seen>) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            match self.step(&bytes[i..], seen) {
                Step::Took(n) => i += n,
                Step::Wait => return None,
                Step::Cut(at) => return Some(i + at),
            }
        }
        None
    }

    /// One move through `rest` (never empty) from the current state.
    fn step(&mut self, rest: &[u8], seen: Option<&Seen>) -> Step {
        let b = rest[0];
        match self.state {
            State::Start => {
                if b != b'\r' && b != b'\n' {
                    self.heads += 1;
                    self.state = State::Method;
                }
                Step::Took(1)
            }
            // The request line: a search for the byte that ends each part.
            State::Method => self.until(rest, b' ', State::Target),
            State::Target => self.target(rest, seen),
            State::Version => {
                let next = self.fields_start();
                self.until(rest, b'\n', next)
            }
            State::Fields | State::Trailers => self.line(rest),
            State::Fixed(n) => self.skip(rest, n, State::Start, State::Fixed),
            State::ChunkSize(size) => self.chunk_size(b, size),
            State::ChunkLine(size) => {
                if b == b'\n' {
                    self.state = chunk_data(size);
                }
                Step::Took(1)
            }
            State::ChunkData(n) => self.skip(rest, n, State::ChunkEnd, State::ChunkData),
            State::ChunkEnd => {
                self.state = match b {
                    b'\r' => State::ChunkEnd,
                    b'\n' => State::ChunkSize(0),
                    _ => State::Lost,
                };
                Step::Took(1)
            }
            State::Lost => Step::Wait,
        }
    }

    /// Up to and past the first `byte`, then `next`; all of `rest` when it is not there.
    fn until(&mut self, rest: &[u8], byte: u8, next: State) -> Step {
        match find(rest, byte) {
            Some(at) => {
                self.state = next;
                Step::Took(at + 1)
            }
            None => Step::Wait,
        }
    }

    /// The target: a `#` noted for this request, a line end inside it not understood.
    fn target(&mut self, rest: &[u8], seen: Option<&Seen>) -> Step {
        let Some(at) = memchr::memchr3(b' ', b'#', b'\n', rest) else {
            return Step::Wait;
        };
        self.state = match rest[at] {
            b' ' => State::Version,
            b'#' => {
                if let Some(seen) = seen {
                    seen.fragment_in(self.heads);
                }
                State::Target
            }
            _ => State::Lost,
        };
        Step::Took(at + 1)
    }

    /// A header or trailer line: read where it is when it arrived whole, put together first when
    /// it was split across reads.
    fn line(&mut self, rest: &[u8]) -> Step {
        let Some(end) = find(rest, b'\n') else {
            self.line.extend_from_slice(rest);
            if self.line.len() > MAX_LINE {
                self.state = State::Lost;
            }
            return Step::Wait;
        };
        let line = if self.line.is_empty() {
            &rest[..end]
        } else {
            self.line.extend_from_slice(&rest[..end]);
            &std::mem::take(&mut self.line)[..]
        };
        self.state = match self.state {
            State::Fields => self.field_line(line),
            _ => trailer_line(line),
        };
        Step::Took(end + 1)
    }

    /// `n` bytes of body passed over unread; then `done`.
    fn skip(&mut self, rest: &[u8], n: u64, done: State, left: fn(u64) -> State) -> Step {
        let skip = usize::try_from(n).unwrap_or(usize::MAX).min(rest.len());
        self.state = match n - skip as u64 {
            0 => done,
            more => left(more),
        };
        Step::Took(skip)
    }

    /// One byte of a chunk-size line: a size past `MAX_CHUNK` cuts the stream at this byte.
    fn chunk_size(&mut self, b: u8, size: u64) -> Step {
        self.state = match hex(b) {
            Some(d) => match size.checked_mul(16).map(|s| s + u64::from(d)) {
                Some(s) if s <= MAX_CHUNK => State::ChunkSize(s),
                _ => {
                    self.state = State::Lost;
                    return Step::Cut(0);
                }
            },
            None if b == b'\n' => chunk_data(size),
            None if matches!(b, b';' | b' ' | b'\t' | b'\r') => State::ChunkLine(size),
            None => State::Lost,
        };
        Step::Took(1)
    }

    fn fields_start(&mut self) -> State {
        self.chunked = false;
        self.length = None;
        State::Fields
    }

    /// One header line (without its LF): the framing fields noted; the empty line ends the head.
    fn field_line(&mut self, line: &[u8]) -> State {
        let text = line.strip_suffix(b"\r").unwrap_or(line);
        if text.is_empty() {
            match (self.chunked, self.length) {
                (true, _) => State::ChunkSize(0),
                (false, Some(0) | None) => State::Start,
                (false, Some(n)) => State::Fixed(n),
            }
        } else if !matches!(text[0], b't' | b'T' | b'c' | b'C' | b' ' | b'\t') {
            // Not a framing field (nor an obsolete line folding, which hyper refuses): only
            // `Transfer-Encoding` and `Content-Length` matter here.
            State::Fields
        } else if let Some((name, value)) = split_field(text) {
            if name.eq_ignore_ascii_case(b"transfer-encoding") {
                // The last coding of the last field decides, as hyper reads it.
                let last = value.rsplit(|&c| c == b',').next().unwrap_or_default();
                self.chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
                State::Fields
            } else if name.eq_ignore_ascii_case(b"content-length") {
                let n = std::str::from_utf8(value.trim_ascii())
                    .ok()
                    .and_then(|v| v.parse().ok());
                match n {
                    Some(n) => {
                        self.length = Some(n);
                        State::Fields
                    }
                    None => State::Lost,
                }
            } else {
                State::Fields
            }
        } else {
            State::Lost
        }
    }
}

/// After a chunk-size line: the trailers after the last chunk, the data otherwise.
fn chunk_data(size: u64) -> State {
    match size {
        0 => State::Trailers,
        n => State::ChunkData(n),
    }
}

/// A trailer line (without its LF): the empty line ends the message.
fn trailer_line(line: &[u8]) -> State {
    match line.iter().all(|&c| c == b'\r') {
        true => State::Start,
        false => State::Trailers,
    }
}

/// Where `byte` first is in `bytes` (memchr: a vector at a time, since every byte of every head
/// passes through here).
fn find(bytes: &[u8], byte: u8) -> Option<usize> {
    memchr::memchr(byte, bytes)
}

fn split_field(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&c| c == b':')?;
    Some((&line[..colon], &line[colon + 1..]))
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragments(stream: &[u8], step: usize) -> (Vec<u64>, Option<usize>) {
        let seen = Seen::default();
        let mut scan = H1Scan::default();
        let mut cut = None;
        for (n, chunk) in stream.chunks(step).enumerate() {
            if let Some(at) = scan.feed(chunk, Some(&seen)) {
                cut = Some(n * step + at);
            }
        }
        ((1..=8).filter(|&k| seen.has_fragment(k)).collect(), cut)
    }

    #[test]
    fn fragments_are_found_in_targets_only_whatever_the_framing_and_the_reads() {
        let hidden = "GET /c#d HTTP/1.1\r\n\r\n";
        let stream = format!(
            "GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
             POST /b HTTP/1.1\r\nContent-Length: {}\r\n\r\n{hidden}\
             POST /e HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n\
             5;x=y\r\nGET #\r\n0\r\nT: #\r\n\r\n\
             \r\nGET /f#/../g HTTP/1.1\r\n\r\nGET /h HTTP/1.1\r\n\r\n",
            hidden.len()
        );
        let stream = stream.as_bytes();
        for step in [1, 2, 7, stream.len()] {
            assert_eq!(fragments(stream, step), (vec![4], None), "reads of {step}");
        }
    }

    #[test]
    fn a_chunk_size_over_the_limit_cuts_the_stream_where_it_exceeds_it() {
        let head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (size, cut) in [
            ("ffffffffffffffff", Some(15)),
            ("8000000000000000", Some(15)),
        ] {
            let stream = [&head[..], size.as_bytes(), b"\r\nabc"].concat();
            for step in [1, 5, stream.len()] {
                let expected = cut.map(|c| head.len() + c);
                assert_eq!(
                    fragments(&stream, step).1,
                    expected,
                    "{size}, reads of {step}"
                );
            }
        }
        let fine = [&head[..], b"7fffffffffffffff\r\nabc"].concat();
        assert_eq!(fragments(&fine, 1).1, None);
        let zeros = [&head[..], b"00000000000000000000005\r\nabcde\r\n0\r\n\r\n"].concat();
        assert_eq!(fragments(&zeros, 3).1, None);
    }
}
