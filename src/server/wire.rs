//! Which protocol a connection speaks, as far as its deadlines care: the HTTP/2 preface is
//! recognised whatever ALPN said, then HTTP/2 frame boundaries are followed in both directions so
//! that only requests and responses (HEADERS, CONTINUATION and DATA) count as progress, not PING,
//! SETTINGS or WINDOW_UPDATE. `watched` asks it about every read and write. On the way out it
//! also counts the streams the connection refuses (`RST_STREAM` with `PROTOCOL_ERROR` or
//! `REFUSED_STREAM`) and a GOAWAY with an error, for `refused`.

use super::h1::H1Scan;
use super::refused::Resets;
use crate::proxy::seen::Seen as Facts;

/// The HTTP/2 client preface, by which an HTTP/2 connection is recognised.
pub(super) const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub(super) const H2_DATA: u8 = 0x0;
pub(super) const H2_HEADERS: u8 = 0x1;
pub(super) const H2_CONTINUATION: u8 = 0x9;
const H2_RST_STREAM: u8 = 0x3;
const H2_GOAWAY: u8 = 0x7;
const H2_PROTOCOL_ERROR: u32 = 0x1;
const H2_REFUSED_STREAM: u32 = 0x7;

/// What some bytes read from the client amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seen {
    /// Request or response bytes, as opposed to connection management.
    pub(super) progress: bool,
    /// The start of a request head (on HTTP/1.1, any byte while no request is in flight).
    pub(super) head_begun: bool,
}

pub(super) const EVERYTHING: Seen = Seen {
    progress: true,
    head_begun: true,
};

/// Which protocol the connection speaks, as far as the deadlines care.
#[derive(Debug)]
pub(super) enum Wire {
    /// Not known yet: this many bytes of the HTTP/2 preface have matched.
    Sniff(usize),
    Http1(H1Scan),
    Http2 {
        read: FrameScan,
        write: FrameScan,
    },
}

impl Wire {
    pub(super) fn read(&mut self, bytes: &[u8]) -> Seen {
        match self {
            Wire::Http1(_) => EVERYTHING,
            Wire::Http2 { read, .. } => read.feed(bytes),
            Wire::Sniff(matched) => {
                let want = &H2_PREFACE[*matched..];
                let n = want.len().min(bytes.len());
                if bytes[..n] != want[..n] {
                    *self = Wire::Http1(H1Scan::default());
                    return EVERYTHING;
                }
                *matched += n;
                if *matched < H2_PREFACE.len() {
                    return Seen {
                        progress: true,
                        head_begun: false,
                    };
                }
                let mut read = FrameScan::default();
                let seen = read.feed(&bytes[n..]);
                *self = Wire::Http2 {
                    read,
                    write: FrameScan::default(),
                };
                Seen {
                    progress: true,
                    ..seen
                }
            }
        }
    }

    /// Whether bytes written to the client are progress.
    pub(super) fn write(&mut self, bytes: &[u8]) -> bool {
        match self {
            Wire::Http2 { write, .. } => write.feed(bytes).progress,
            Wire::Http1(_) | Wire::Sniff(_) => !bytes.is_empty(),
        }
    }

    /// The refusals written since the last call (HTTP/2 only).
    pub(super) fn take_resets(&mut self) -> Resets {
        match self {
            Wire::Http2 { write, .. } => std::mem::take(&mut write.resets),
            Wire::Http1(_) | Wire::Sniff(_) => Resets::default(),
        }
    }

    /// HTTP/1.1 only: follows the requests in `bytes` read (after `read`), noting fragments in
    /// `facts`; where the stream must be cut, if it must (see `h1`).
    pub(super) fn follow(&mut self, bytes: &[u8], facts: Option<&Facts>) -> Option<usize> {
        match self {
            Wire::Http1(scan) => scan.feed(bytes, facts),
            Wire::Sniff(_) | Wire::Http2 { .. } => None,
        }
    }
}

/// Follows HTTP/2 frame boundaries in one direction: 9-byte headers, payloads skipped, except the
/// error code of `RST_STREAM` and GOAWAY frames.
#[derive(Debug, Default)]
pub(super) struct FrameScan {
    header: [u8; 9],
    have: usize,
    payload_left: usize,
    /// An error code being read: the frame type, the payload bytes to skip before it, the code
    /// so far and how many of its bytes.
    code: Option<(u8, usize, [u8; 4], usize)>,
    resets: Resets,
}

impl FrameScan {
    fn feed(&mut self, mut bytes: &[u8]) -> Seen {
        let mut seen = Seen {
            progress: false,
            head_begun: false,
        };
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                if self.code.is_some() {
                    self.read_code(&bytes[..n]);
                }
                self.payload_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (self.header.len() - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have < self.header.len() {
                break;
            }
            self.have = 0;
            let h = &self.header;
            self.payload_left = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
            self.code = match h[3] {
                H2_RST_STREAM if self.payload_left >= 4 => Some((H2_RST_STREAM, 0, [0; 4], 0)),
                H2_GOAWAY if self.payload_left >= 8 => Some((H2_GOAWAY, 4, [0; 4], 0)),
                _ => None,
            };
            match h[3] {
                H2_HEADERS => {
                    seen.progress = true;
                    seen.head_begun = true;
                }
                H2_DATA | H2_CONTINUATION => seen.progress = true,
                _ => {}
            }
        }
        seen
    }
}

impl FrameScan {
    /// Takes what `payload` holds of the error code being read; counts it once complete.
    fn read_code(&mut self, mut payload: &[u8]) {
        let Some((ty, skip, code, have)) = &mut self.code else {
            return;
        };
        let skipped = (*skip).min(payload.len());
        *skip -= skipped;
        payload = &payload[skipped..];
        let n = (4 - *have).min(payload.len());
        code[*have..*have + n].copy_from_slice(&payload[..n]);
        *have += n;
        if *have < 4 {
            return;
        }
        match (*ty, u32::from_be_bytes(*code)) {
            (H2_RST_STREAM, H2_PROTOCOL_ERROR) => self.resets.protocol_errors += 1,
            (H2_RST_STREAM, H2_REFUSED_STREAM) => self.resets.refused += 1,
            (H2_GOAWAY, c) if c != 0 => self.resets.goaway_errors += 1,
            _ => {}
        }
        self.code = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h2_frame(ty: u8, len: usize) -> Vec<u8> {
        let mut f = (len as u32).to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[ty, 0, 0, 0, 0, 1]);
        f.extend(std::iter::repeat_n(0u8, len));
        f
    }

    fn with_payload(ty: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[ty, 0, 0, 0, 0, 1]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn refusals_written_are_counted_even_split_across_writes() {
        let mut scan = FrameScan::default();
        let mut bytes = with_payload(H2_RST_STREAM, &1u32.to_be_bytes());
        bytes.extend(with_payload(H2_RST_STREAM, &7u32.to_be_bytes()));
        bytes.extend(with_payload(H2_RST_STREAM, &8u32.to_be_bytes())); // CANCEL: not one
        bytes.extend(with_payload(H2_GOAWAY, &[0, 0, 0, 1, 0, 0, 0, 0])); // NO_ERROR: not one
        bytes.extend(with_payload(H2_GOAWAY, &[0, 0, 0, 1, 0, 0, 0, 11, b'x']));
        bytes.extend(h2_frame(H2_DATA, 3));
        for b in bytes.chunks(1) {
            scan.feed(b);
        }
        let r = scan.resets;
        assert_eq!((r.protocol_errors, r.refused, r.goaway_errors), (1, 1, 1));
    }

    #[test]
    fn the_preface_decides_the_protocol_even_split_across_reads() {
        let mut wire = Wire::Sniff(0);
        assert!(!wire.read(b"PRI * HT").head_begun);
        let seen = wire.read(&[&H2_PREFACE[8..], &h2_frame(H2_HEADERS, 0)[..]].concat());
        assert!(seen.head_begun && matches!(wire, Wire::Http2 { .. }));
        let mut wire = Wire::Sniff(0);
        assert_eq!(wire.read(b"POST / HTTP/1.1\r\n"), EVERYTHING);
        assert!(matches!(wire, Wire::Http1(_)));
    }
}
