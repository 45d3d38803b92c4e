//! The decoder and string unquoting, each rule with Go's own examples.

use std::borrow::Cow;

use super::super::unquote::push_replacing;
use super::*;

fn root(body: &[u8]) -> Node<'_> {
    decode_first(body).unwrap().root().node().clone()
}

/// The text of the string at `"r"` in `{"r":<literal>}`.
fn text(literal: &[u8]) -> Cow<'_, str> {
    let mut body = br#"{"r":"#.to_vec();
    body.extend_from_slice(literal);
    body.push(b'}');
    let doc = decode_first(&body).unwrap();
    let (_, v) = doc.root().entries().next().unwrap();
    match v.node() {
        Node::Str(s) => Cow::Owned(s.to_string()),
        other => panic!("{other:?}"),
    }
}

fn err(body: &[u8]) -> Unreadable {
    decode_first(body).unwrap_err()
}

#[test]
fn only_the_first_value_is_read() {
    let doc = decode_first(br#"{"a":1}{"b":2}"#).unwrap();
    let keys: Vec<&str> = doc.root().entries().map(|(k, _)| k).collect();
    assert_eq!(keys, ["a"]);
    assert_eq!(
        decode_first(br#"{"a":1} garbage"#)
            .unwrap()
            .root()
            .entries()
            .count(),
        1
    );
    assert_eq!(root(b"null garbage"), Node::Null);
    assert_eq!(root(b"true}"), Node::Bool(true));
    // A top-level number ends where its grammar does: `01` is the number 0, then ignored bytes.
    assert_eq!(root(b"01"), Node::Num("0"));
    assert_eq!(root(b" \t\r\n[]"), Node::Arr { end: 1 });
}

#[test]
fn empty_and_cut_off_bodies() {
    assert_eq!(err(b""), Unreadable::Empty);
    assert_eq!(err(b" \n\t\r "), Unreadable::Empty);
    for cut in [
        &br#"{"a":1"#[..],
        br#"{"a":"x"#,
        br#"{"a""#,
        br#"{"a":"#,
        br#"["#,
        b"tru",
        b"-",
        b"1.",
        b"1e+",
        br#""\u12"#,
        br#""\"#,
    ] {
        assert_eq!(
            err(cut),
            Unreadable::Truncated,
            "{}",
            String::from_utf8_lossy(cut)
        );
    }
}

#[test]
fn syntax_errors() {
    for (bad, at) in [
        (&br#"{"a":01}"#[..], 6),
        (br#"{"a":1,}"#, 7),
        (br#"[1,]"#, 3),
        (br#"{,}"#, 1),
        (br#"{"a" 1}"#, 5),
        (br#"{'a':1}"#, 1),
        (b"True", 0),
        (b"trux", 3),
        (b"nulL", 3),
        (b"+1", 0),
        (b".5", 0),
        (b"1.x", 2),
        (b"-a", 1),
        (b"\x0c{}", 0),
        (b"\xef\xbb\xbf{}", 0),
        (b"{\"a\":\"x\x01\"}", 7),
        (b"{\"a\":\"x\ny\"}", 7),
        (br#"{"a":"\x"}"#, 7),
        (br#"{"a":"\'"}"#, 7),
        (br#"{"a":"\u12g4"}"#, 10),
        (br#"{"a":[1 2]}"#, 8),
        (br#"{"a":1 "b":2}"#, 7),
    ] {
        assert_eq!(
            err(bad),
            Unreadable::Syntax { at },
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn numbers_keep_their_literal_text() {
    for n in ["0", "-0", "12", "-1.5e-3", "1E+400", "0.000", "1e01"] {
        assert_eq!(root(n.as_bytes()), Node::Num(n));
    }
}

#[test]
fn invalid_bytes_and_lone_surrogates_become_replacement_characters() {
    for literal in [
        &b"\"r-\xff\""[..],
        b"\"r-\xfe\"",
        br#""r-\ud800""#,
        br#""r-\udc00""#,
    ] {
        assert_eq!(
            text(literal),
            "r-\u{FFFD}",
            "{}",
            String::from_utf8_lossy(literal)
        );
    }
    assert_eq!(text(br#""\ud83d\ude00""#), "\u{1F600}");
    assert_eq!(text(br#""\uD83D\uDE00""#), "\u{1F600}");
    // The escape after a lone high surrogate is read on its own.
    assert_eq!(text(br#""\ud800\u0041""#), "\u{FFFD}A");
    assert_eq!(text(br#""\ud800\ud800""#), "\u{FFFD}\u{FFFD}");
    assert_eq!(text(br#""\ud800\ud83d\ude00""#), "\u{FFFD}\u{1F600}");
    assert_eq!(text(br#""\udc00\ude00""#), "\u{FFFD}\u{FFFD}");
    assert_eq!(text(br#""\ud800x""#), "\u{FFFD}x");
    assert_eq!(text(br#""\ud800\n""#), "\u{FFFD}\n");
    // One replacement per byte of an invalid sequence, as `utf8.DecodeRune` rejects each alone.
    assert_eq!(text(b"\"\xe2\x82\""), "\u{FFFD}\u{FFFD}");
    assert_eq!(text(b"\"\xed\xa0\x80\""), "\u{FFFD}\u{FFFD}\u{FFFD}");
    assert_eq!(text(b"\"\xf4\x90\x80\x80\""), "\u{FFFD}".repeat(4));
    assert_eq!(text(b"\"\xc0\xaf\""), "\u{FFFD}\u{FFFD}");
    assert_eq!(text(b"\"a\xe2\x82\xacb\xff\""), "a\u{20AC}b\u{FFFD}");
}

#[test]
fn escapes() {
    assert_eq!(
        text(br#""\"\\\/\b\f\n\r\t\u0000\u00e9""#),
        "\"\\/\u{8}\u{c}\n\r\t\u{0}\u{e9}"
    );
    // DEL and every byte from 0x20 up are allowed raw.
    assert_eq!(text(b"\"\x7f \""), "\u{7f} ");
}

#[test]
fn strings_are_borrowed_unless_something_was_replaced() {
    let doc =
        decode_first("{\"plain\":\"caf\u{e9}\",\"esc\":\"a\\n\",\"bad\":\"\u{e9}\"}".as_bytes())
            .unwrap();
    let kinds: Vec<bool> = doc
        .root()
        .entries()
        .map(|(_, v)| matches!(v.node(), Node::Str(Cow::Borrowed(_))))
        .collect();
    assert_eq!(kinds, [true, false, true]);
    let doc = decode_first(b"{\"k\xff\":\"v\xff\"}").unwrap();
    let (k, v) = doc.root().entries().next().unwrap();
    assert_eq!(k, "k\u{FFFD}");
    assert!(matches!(v.node(), Node::Str(Cow::Owned(s)) if s == "v\u{FFFD}"));
}

#[test]
fn nesting_is_bounded() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(decode_first(deep(GOJSON_MAX_DEPTH).as_bytes()).is_ok());
    assert_eq!(
        err(deep(GOJSON_MAX_DEPTH + 1).as_bytes()),
        Unreadable::TooDeep {
            at: GOJSON_MAX_DEPTH
        }
    );
    let objects = format!(
        "{}1{}",
        r#"{"a":"#.repeat(GOJSON_MAX_DEPTH + 1),
        "}".repeat(200)
    );
    assert!(matches!(
        err(objects.as_bytes()),
        Unreadable::TooDeep { .. }
    ));
}

#[test]
fn containers_iterate_in_order_with_duplicates() {
    let doc = decode_first(br#"{"a":[1,[2,3],{"x":null}],"a":{},"b":"s"}"#).unwrap();
    let entries: Vec<(&str, usize)> = doc
        .root()
        .entries()
        .map(|(k, v)| (k, v.items().count()))
        .collect();
    assert_eq!(entries, [("a", 3), ("a", 0), ("b", 0)]);
    let (_, a) = doc.root().entries().next().unwrap();
    let nodes: Vec<&Node> = a.items().map(|v| v.node()).collect();
    assert_eq!(nodes[0], &Node::Num("1"));
    assert_eq!(a.items().nth(2).unwrap().entries().next().unwrap().0, "x");
}

/// Go's `utf8.DecodeRune`: a rune and its width, or `None` and width 1 for an invalid byte.
fn go_decode_rune(p: &[u8]) -> (Option<char>, usize) {
    let (size, lo, hi) = match p[0] {
        0..=0x7f => return (Some(char::from(p[0])), 1),
        0xc2..=0xdf => (2, 0x80, 0xbf),
        0xe0 => (3, 0xa0, 0xbf),
        0xed => (3, 0x80, 0x9f),
        0xe1..=0xef => (3, 0x80, 0xbf),
        0xf0 => (4, 0x90, 0xbf),
        0xf1..=0xf3 => (4, 0x80, 0xbf),
        0xf4 => (4, 0x80, 0x8f),
        _ => return (None, 1),
    };
    if p.len() < size || !(lo..=hi).contains(&p[1]) {
        return (None, 1);
    }
    if p[2..size].iter().any(|b| !(0x80..=0xbf).contains(b)) {
        return (None, 1);
    }
    let c = std::str::from_utf8(&p[..size]).unwrap().chars().next();
    (c, size)
}

/// Go's `unquoteBytes` loop for plain bytes.
fn go_coerce(mut p: &[u8]) -> String {
    let mut out = String::new();
    while !p.is_empty() {
        let (c, n) = go_decode_rune(p);
        out.push(c.unwrap_or('\u{FFFD}'));
        p = &p[n..];
    }
    out
}

#[test]
fn replacement_matches_go_decode_rune_on_every_short_sequence() {
    const BYTES: [u8; 24] = [
        0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec,
        0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff,
    ];
    let mut seq = Vec::with_capacity(4);
    for n in 1..=4u32 {
        for mut i in 0..BYTES.len().pow(n) {
            seq.clear();
            for _ in 0..n {
                seq.push(BYTES[i % BYTES.len()]);
                i /= BYTES.len();
            }
            let mut ours = String::new();
            push_replacing(&mut ours, &seq);
            assert_eq!(ours, go_coerce(&seq), "{seq:02x?}");
        }
    }
}
