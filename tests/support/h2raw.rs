//! HTTP/2 written by hand, for clients no library would be: frames, HPACK literals without
//! Huffman coding, and a reader that splits the server's bytes into frames. Shared by the hostile
//! tests and `benches/attacks.rs`.

#![allow(dead_code)]

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const RST_STREAM: u8 = 3;
pub const SETTINGS: u8 = 4;
pub const PING: u8 = 6;
pub const GOAWAY: u8 = 7;
pub const WINDOW_UPDATE: u8 = 8;
pub const CONTINUATION: u8 = 9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;

pub const PROTOCOL_ERROR: u32 = 0x1;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

pub fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.push(ty);
    f.push(flags);
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in pairs {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &p)
}

pub fn rst(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

pub fn ping(data: u64) -> Vec<u8> {
    frame(PING, 0, 0, &data.to_be_bytes())
}

/// The client's opening: preface, then SETTINGS with `pairs`.
pub fn opening(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut v = PREFACE.to_vec();
    v.extend(settings(pairs));
    v
}

/// An HPACK integer with an `n`-bit prefix, the other bits of the first byte set to `flags`.
pub fn int(flags: u8, n: u32, mut v: usize) -> Vec<u8> {
    let max = (1usize << n) - 1;
    if v < max {
        return vec![flags | v as u8];
    }
    let mut out = vec![flags | max as u8];
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
    out
}

fn string(s: &[u8]) -> Vec<u8> {
    let mut out = int(0, 7, s.len());
    out.extend_from_slice(s);
    out
}

/// Literal field without indexing, new name: the name is sent exactly as given (any case).
pub fn literal(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = vec![0x00];
    out.extend(string(name));
    out.extend(string(value));
    out
}

/// Literal field with incremental indexing, new name: it enters the dynamic table.
pub fn literal_indexed(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = vec![0x40];
    out.extend(string(name));
    out.extend(string(value));
    out
}

/// Literal without indexing whose name is static-table entry `index`.
fn literal_static_name(index: usize, value: &[u8]) -> Vec<u8> {
    let mut out = int(0x00, 4, index);
    out.extend(string(value));
    out
}

/// A request's pseudo-headers: `:method`, `:scheme https`, `:authority localhost`, `:path`.
pub fn request(method: &str, path: &str) -> Vec<u8> {
    let mut b = match method {
        "GET" => vec![0x82],
        "POST" => vec![0x83],
        m => literal_static_name(2, m.as_bytes()),
    };
    b.push(0x87);
    b.extend(literal_static_name(1, b"localhost"));
    b.extend(literal_static_name(4, path.as_bytes()));
    b
}

/// HEADERS for a complete request on `stream` with extra literal fields.
pub fn headers(stream: u32, end_stream: bool, block: &[u8]) -> Vec<u8> {
    let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
    frame(HEADERS, flags, stream, block)
}

#[derive(Debug, Clone)]
pub struct Frame {
    pub ty: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a RST_STREAM or GOAWAY.
    pub fn code(&self) -> Option<u32> {
        let at = match self.ty {
            RST_STREAM => 0,
            GOAWAY => 4,
            _ => return None,
        };
        let b = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A response HEADERS frame whose first field is `:status 200` (static index 8).
    pub fn is_ok_status(&self) -> bool {
        self.ty == HEADERS && self.payload.first() == Some(&0x88)
    }

    /// A response HEADERS frame whose first field is `:status 400` (static index 12).
    pub fn is_bad_request_status(&self) -> bool {
        self.ty == HEADERS && self.payload.first() == Some(&0x8c)
    }
}

/// The error code of the first GOAWAY among `frames`.
pub fn goaway(frames: &[Frame]) -> Option<u32> {
    frames.iter().find(|f| f.ty == GOAWAY).and_then(Frame::code)
}

/// The error code of the first RST_STREAM for `stream` among `frames`.
pub fn reset(frames: &[Frame], stream: u32) -> Option<u32> {
    frames
        .iter()
        .find(|f| f.ty == RST_STREAM && f.stream == stream)
        .and_then(Frame::code)
}

/// Takes every complete frame off the front of `buf`.
pub fn split(buf: &mut Vec<u8>) -> Vec<Frame> {
    let mut out = Vec::new();
    loop {
        if buf.len() < 9 {
            return out;
        }
        let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
        if buf.len() < 9 + len {
            return out;
        }
        let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
        out.push(Frame {
            ty: buf[3],
            flags: buf[4],
            stream,
            payload: buf[9..9 + len].to_vec(),
        });
        buf.drain(..9 + len);
    }
}

/// Reads frames until the server closes (true) or `quiet` passes with nothing new (false), or
/// `stop` says enough.
pub async fn read_until<IO: AsyncRead + Unpin>(
    io: &mut IO,
    quiet: Duration,
    mut stop: impl FnMut(&[Frame]) -> bool,
) -> (Vec<Frame>, bool) {
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(quiet, io.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (frames, true),
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                frames.extend(split(&mut buf));
                if stop(&frames) {
                    return (frames, false);
                }
            }
            Err(_) => return (frames, false),
        }
    }
}
