//! Lower-case hexadecimal, the one encoder the crate uses for digests, fingerprints and ids.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends the hex of `bytes` to `out`.
pub fn encode_into(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0xf)]);
    }
}

/// Writes the hex of `bytes` into `out`, which must be twice as long; no allocation.
pub fn encode_to_slice(bytes: &[u8], out: &mut [u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
}

/// The hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Exactly `N` bytes from `2 * N` lower-case hex digits, or none.
pub fn decode<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let nibble = |c: u8| DIGITS.iter().position(|d| *d == c).map(|p| p as u8);
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_like_format() {
        let bytes = [0x00, 0x0f, 0xa5, 0xff];
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::encode(&bytes), expected);
        let mut v = b"x".to_vec();
        super::encode_into(&mut v, &bytes);
        assert_eq!(v, format!("x{expected}").into_bytes());
        assert_eq!(super::decode::<4>(&expected), Some(bytes));
        assert_eq!(super::decode::<4>("000FA5FF"), None);
        assert_eq!(super::decode::<2>(&expected), None);
    }
}
