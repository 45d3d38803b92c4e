//! Differential property tests: the gateway's reading of Blnk's bodies against the fake Blnk's
//! (`fake_blnk::gojson`, `fake_blnk::bind`), an independent implementation of the same Go rules.
//! Bodies are generated from a tape of choices (shrinking the tape simplifies the body): objects
//! with Blnk's fields in any case and folded spelling (`ſ`, `K`, `\u` escapes), repeated keys,
//! `null`s, values of the wrong type, invalid UTF-8, lone surrogates, control bytes, unknown keys,
//! then sometimes cut off, followed by trailing data, or with a byte changed.
//!
//! The generator covers what the fake once got wrong (each confirmed on Go's source and on Go
//! 1.26 itself, and now checked against a real Blnk by the conformance suite): array fields
//! repeated in one object (Go decodes each array into the old slice's elements, see
//! `bind::List`, and a type error in any of them fails the bind), keys of another route's struct
//! on each inflight route (unknown there, ignored), numbers beyond float64's range in
//! `meta_data` (Go's `convertNumber` fails the bind), `effective_date` strings valid, invalid, or
//! valid only to `time.Parse`'s looser reading, and the precise amount of every transfer both
//! read (`Transfer::precise` against the fake's exact-decimal `apply_precision`).
//!
//! What remains kept out of the way:
//! - `precise_amount` beyond `i128`: Go reads it, both the fake and the gateway refuse it (the
//!   fake by failing to parse), so the two agree and the generator keeps it.
//! - A precise amount the gateway refuses as [`Unreadable::TooLarge`]: the fake's exact result
//!   must then be beyond `i128` too.
//! - Nesting stays far below both depth limits (the fake's 10,000, the gateway's 128).

use std::fmt::Debug;

use fake_blnk::bind as fake;
use fake_blnk::gojson::{self as fake_json, Go};
use fake_blnk::ledger::precise as fake_precise;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::decode::Value;
use super::fold::binds;
use super::*;

/// Choices read from a tape; past its end every choice is 0, the simplest.
struct Gen<'t> {
    tape: &'t [u8],
    at: usize,
}

impl Gen<'_> {
    fn pick(&mut self, n: usize) -> usize {
        let c = self.tape.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        usize::from(c) % n
    }

    fn rare(&mut self, percent: usize) -> bool {
        self.pick(100) >= 100 - percent
    }

    fn one<'a, T>(&mut self, of: &'a [T]) -> &'a T {
        &of[self.pick(of.len())]
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Str,
    Float,
    Bool,
    Big,
    Map,
    Time,
    Shares,
    Records,
    Items,
    Ids,
    /// A key of another route's struct: unknown here, any value.
    Foreign,
}

use Ty::*;

const SHARE: &[(&str, Ty)] = &[
    ("identifier", Str),
    ("distribution", Str),
    ("precise_distribution", Str),
    ("transaction_id", Str),
];
const RECORD: &[(&str, Ty)] = &[
    ("amount", Float),
    ("precision", Float),
    ("overdraft_limit", Float),
    ("precise_amount", Big),
    ("allow_overdraft", Bool),
    ("inflight", Bool),
    ("skip_queue", Bool),
    ("atomic", Bool),
    ("source", Str),
    ("reference", Str),
    ("destination", Str),
    ("description", Str),
    ("currency", Str),
    ("balance_id", Str),
    ("scheduled_for", Str),
    ("inflight_expiry_date", Str),
    ("inflight_commit_date", Str),
    ("sources", Shares),
    ("destinations", Shares),
    ("meta_data", Map),
    ("effective_date", Time),
    ("dry_run", Bool),
];
const BULK: &[(&str, Ty)] = &[
    ("transactions", Records),
    ("inflight", Bool),
    ("atomic", Bool),
    ("run_async", Bool),
    ("skip_queue", Bool),
    ("dry_run", Bool),
];
const UPDATE: &[(&str, Ty)] = &[
    ("status", Str),
    ("amount", Float),
    ("precise_amount", Big),
    ("skip_queue", Bool),
    ("dry_run", Bool),
    ("transaction_id", Foreign),
];
const ITEM: &[(&str, Ty)] = &[
    ("transaction_id", Str),
    ("amount", Float),
    ("precise_amount", Big),
    ("status", Foreign),
    ("skip_queue", Foreign),
    ("dry_run", Foreign),
];
const COMMIT: &[(&str, Ty)] = &[
    ("transactions", Items),
    ("skip_queue", Bool),
    ("dry_run", Bool),
    ("transaction_ids", Foreign),
];
const VOID: &[(&str, Ty)] = &[
    ("transaction_ids", Ids),
    ("skip_queue", Bool),
    ("dry_run", Bool),
    ("transactions", Foreign),
];
const REFUND: &[(&str, Ty)] = &[
    ("skip_queue", Bool),
    ("dry_run", Bool),
    ("meta_data", Map),
    ("description", Str),
];

/// Pieces of string literals: plain text, escapes, invalid bytes, surrogates, and a few that
/// make the body unreadable (a control byte, a bad escape).
const PARTS: &[&[u8]] = &[
    b"a",
    b"ref-1",
    b"USD",
    b"@World",
    b"50%",
    b"left",
    b" ",
    b"\\n",
    b"\\\"",
    b"\\/",
    b"\xff",
    b"\xfe",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xc3\xa9",
    b"\\u00e9",
    b"\\ud800",
    b"\\udc00",
    b"\\uD83D\\uDE00",
    b"\\ud800\\u0041",
    b"\\ud800\\ud800",
    b"\x01",
    b"\\x",
    b"\\u12",
];
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "5",
    "12.5",
    "1.005",
    "0.1",
    "19.99",
    "1e3",
    "1E-7",
    "-2.5",
    "1e-400",
    "100",
    "98647591572463.625",
    "2.5e1",
    "01",
    "1.",
    "-",
    "1e400",
    "-1e999",
];
const BIG: &[&str] = &[
    "0",
    "-0",
    "5",
    "-5",
    "1250",
    "1.5",
    "1e3",
    "\"123\"",
    "170141183460469231731687303715884105727",
    "170141183460469231731687303715884105728",
    "123456789012345678901234567890123456789012",
];
/// Dates: RFC 3339, what only `time.Parse` accepts (a one-digit hour, a comma, an offset of
/// 24:60), and near misses; `date` changes them further.
const DATES: &[&str] = &[
    "2024-01-01T00:00:00Z",
    "2024-02-29T23:59:59.123456+05:30",
    "2000-02-29T1:02:03,5-24:60",
    "1900-02-28T09:59:59Z",
    "2023-02-29T00:00:00Z",
    "2024-01-01T00:00:00",
    "2024-01-01",
    "",
];
/// Bytes a date is changed with: each matters to some part of the layout.
const DATE_BYTES: &[u8] = b"0123459-+:.,TZtz \\";

/// Keys that bind to no field of any of Blnk's structs, nor after one changed byte.
const UNKNOWN: &[&str] = &[
    "foo",
    "metadata",
    "ref",
    "amount_",
    "r\u{e9}ference",
    "\u{130}nflight",
    "",
];

fn ws(g: &mut Gen, out: &mut Vec<u8>) {
    if g.rare(20) {
        out.extend_from_slice(g.one::<&[u8]>(&[b" ", b"\n\t", b"\r "]));
    }
}

fn string(g: &mut Gen, out: &mut Vec<u8>) {
    out.push(b'"');
    for _ in 0..g.pick(4) {
        let part = if g.rare(40) {
            *g.one(PARTS)
        } else {
            *g.one(&PARTS[..6])
        };
        out.extend_from_slice(part);
    }
    out.push(b'"');
}

/// A key that binds to `name`: each letter in either case, `s` and `k` sometimes as `ſ` and
/// `K` (raw or escaped), some letters escaped; or rarely one that no longer binds.
fn key(g: &mut Gen, name: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in name.chars() {
        let spelled = match g.pick(100) {
            96.. if c == 's' => ["\u{17F}", "\\u017f"][g.pick(2)].to_string(),
            96.. if c == 'k' => ["\u{212A}", "\\u212A"][g.pick(2)].to_string(),
            93.. => format!("\\u{:04x}", u32::from(c)),
            75.. => c.to_ascii_uppercase().to_string(),
            _ => c.to_string(),
        };
        out.extend_from_slice(spelled.as_bytes());
    }
    if g.rare(3) {
        out.extend_from_slice(g.one(&["_z", "\u{e9}"]).as_bytes());
    }
    out.push(b'"');
}

/// Any JSON value; numbers only within float64's range unless `any_number`.
fn any_value(g: &mut Gen, depth: usize, any_number: bool, out: &mut Vec<u8>) {
    let numbers = if any_number { NUMBERS } else { &NUMBERS[..14] };
    match g.pick(if depth >= 3 { 5 } else { 7 }) {
        0 => out.extend_from_slice(b"null"),
        1 => out.extend_from_slice(b"true"),
        2 => out.extend_from_slice(b"false"),
        3 => out.extend_from_slice(g.one(numbers).as_bytes()),
        4 => string(g, out),
        5 => list(g, out, |g, out| any_value(g, depth + 1, any_number, out)),
        _ => {
            out.push(b'{');
            for i in 0..g.pick(4) {
                if i > 0 {
                    out.push(b',');
                }
                string(g, out);
                out.push(b':');
                any_value(g, depth + 1, any_number, out);
            }
            out.push(b'}');
        }
    }
}

fn list(g: &mut Gen, out: &mut Vec<u8>, mut item: impl FnMut(&mut Gen, &mut Vec<u8>)) {
    out.push(b'[');
    ws(g, out);
    for i in 0..g.pick(4) {
        if i > 0 {
            out.push(b',');
            ws(g, out);
        }
        item(g, out);
    }
    out.push(b']');
}

/// A date string: one of `DATES`, sometimes with a byte changed, added or removed, sometimes
/// with a character escaped (Go parses the raw literal, so an escape never passes).
fn date(g: &mut Gen, out: &mut Vec<u8>) {
    let mut d = g.one(DATES).as_bytes().to_vec();
    for _ in 0..g.pick(3) {
        let at = g.pick(d.len() + 1);
        match g.pick(3) {
            0 if at < d.len() => d[at] = *g.one(DATE_BYTES),
            1 => d.insert(at, *g.one(DATE_BYTES)),
            _ if at < d.len() => {
                d.remove(at);
            }
            _ => {}
        }
    }
    if g.rare(5) && !d.is_empty() {
        let at = g.pick(d.len());
        let escaped = format!("\\u{:04x}", d[at]);
        d.splice(at..=at, escaped.bytes());
    }
    out.push(b'"');
    out.extend_from_slice(&d);
    out.push(b'"');
}

/// A number literal for a float64 field: one of `NUMBERS`, or digits with a point and an
/// exponent anywhere (amounts whose precise amount the two sides compute).
fn number(g: &mut Gen, out: &mut Vec<u8>) {
    if g.pick(2) == 0 {
        return out.extend_from_slice(g.one(NUMBERS).as_bytes());
    }
    if g.rare(20) {
        out.push(b'-');
    }
    let len = 1 + g.pick(18);
    let point = g.pick(len + 1);
    for i in 0..len {
        if i == point && i > 0 {
            out.push(b'.');
        }
        let d = if i == 0 && len > 1 && point != 1 {
            1 + g.pick(9)
        } else {
            g.pick(10)
        };
        out.push(b'0' + d as u8);
    }
    if g.rare(30) {
        out.extend_from_slice(format!("e{}", g.pick(60) as i32 - 30).as_bytes());
    }
}

fn value(g: &mut Gen, ty: Ty, out: &mut Vec<u8>) {
    if ty == Foreign {
        return any_value(g, 1, true, out);
    }
    if g.rare(10) {
        return out.extend_from_slice(b"null");
    }
    if g.rare(8) {
        return any_value(g, 0, true, out);
    }
    match ty {
        Str => string(g, out),
        Float => number(g, out),
        Bool => out.extend_from_slice(g.one::<&[u8]>(&[b"true", b"false"])),
        Big => out.extend_from_slice(g.one(BIG).as_bytes()),
        Map => {
            let any_number = g.rare(15);
            any_value(g, 1, any_number, out)
        }
        Shares => list(g, out, |g, out| element(g, SHARE, out)),
        Records => list(g, out, |g, out| element(g, RECORD, out)),
        Items => list(g, out, |g, out| element(g, ITEM, out)),
        Ids => list(g, out, |g, out| match g.pick(10) {
            0 => out.extend_from_slice(b"null"),
            1 => out.extend_from_slice(b"5"),
            _ => string(g, out),
        }),
        Time => date(g, out),
        Foreign => {}
    }
}

fn element(g: &mut Gen, fields: &[(&str, Ty)], out: &mut Vec<u8>) {
    match g.pick(20) {
        0 => out.extend_from_slice(b"null"),
        1 => any_value(g, 1, true, out),
        _ => object(g, fields, out),
    }
}

fn object(g: &mut Gen, fields: &[(&str, Ty)], out: &mut Vec<u8>) {
    out.push(b'{');
    ws(g, out);
    let mut first = true;
    for _ in 0..g.pick(9) {
        let entry = if g.rare(10) {
            None
        } else {
            Some(fields[g.pick(fields.len())])
        };
        if !first {
            out.push(b',');
            ws(g, out);
        }
        first = false;
        match entry {
            Some((name, ty)) => {
                key(g, name, out);
                out.push(b':');
                ws(g, out);
                value(g, ty, out);
            }
            None => {
                out.push(b'"');
                out.extend_from_slice(g.one(UNKNOWN).as_bytes());
                out.extend_from_slice(b"\":");
                any_value(g, 1, true, out);
            }
        }
    }
    ws(g, out);
    out.push(b'}');
}

/// A body for a struct, sometimes cut off, extended, changed in one byte, or replaced.
fn body(tape: &[u8], fields: &[(&str, Ty)]) -> Vec<u8> {
    let mut g = Gen { tape, at: 0 };
    let mut out = Vec::new();
    object(&mut g, fields, &mut out);
    let at = (g.pick(256) * 256 + g.pick(256)) % (out.len() + 1);
    match g.pick(100) {
        96.. => out.truncate(at),
        92.. => out.extend_from_slice(g.one::<&[u8]>(&[
            br#"{"reference":"zz"}"#,
            b" garbage",
            b"\xff",
            b"]",
        ])),
        88.. if at < out.len() => out[at] = g.pick(256) as u8,
        86.. => {
            out = g
                .one(&[&b""[..], b"  ", b"null", b"[]", b"\"x\"", b"5"])
                .to_vec()
        }
        _ => {}
    }
    out
}

/// Both read the body, or both refuse it, and what they read agrees.
fn agree<V: PartialEq + Debug>(
    body: &[u8],
    ours: Result<V, Unreadable>,
    fake: Result<V, String>,
) -> Result<(), TestCaseError> {
    let shown = body.escape_ascii().to_string();
    match (ours, fake) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{}", shown),
        (Err(_), Err(_)) => {}
        (ours, fake) => prop_assert!(
            false,
            "{}: gateway {:?}, fake {:?}",
            shown,
            ours.err(),
            fake.err()
        ),
    }
    Ok(())
}

type ShareView = (String, String);

/// What both sides keep of a transaction, floats as bits.
#[derive(Debug, PartialEq)]
struct TransferView {
    text: [String; 4],
    numbers: [u64; 2],
    precise_amount: Option<i128>,
    flags: [bool; 5],
    sources: Vec<ShareView>,
    destinations: Vec<ShareView>,
}

fn ours(t: &Transfer) -> TransferView {
    let shares = |s: &[Share]| {
        s.iter()
            .map(|s| (s.identifier.to_string(), s.distribution.to_string()))
            .collect()
    };
    TransferView {
        text: [&t.reference, &t.currency, &t.source, &t.destination].map(|s| s.to_string()),
        numbers: [t.amount.to_bits(), t.precision.to_bits()],
        precise_amount: t.precise_amount,
        flags: [
            t.skip_queue,
            t.dry_run,
            t.inflight,
            t.allow_overdraft,
            t.atomic,
        ],
        sources: shares(&t.sources),
        destinations: shares(&t.destinations),
    }
}

fn theirs(t: &fake::RecordTransaction) -> TransferView {
    let shares = |s: &[fake::Distribution]| {
        s.iter()
            .map(|s| (s.identifier.clone(), s.distribution.clone()))
            .collect()
    };
    TransferView {
        text: [&t.reference, &t.currency, &t.source, &t.destination].map(|s| s.clone()),
        numbers: [t.amount.to_bits(), t.precision.to_bits()],
        precise_amount: t.precise_amount,
        flags: [
            t.skip_queue,
            t.dry_run,
            t.inflight,
            t.allow_overdraft,
            t.atomic,
        ],
        sources: shares(&t.sources),
        destinations: shares(&t.destinations),
    }
}

type BulkView = (Vec<Option<TransferView>>, [bool; 5]);
type UpdateView = (String, u64, Option<i128>, [bool; 2]);
type InflightView = (Vec<(String, u64, Option<i128>)>, Vec<String>, [bool; 2]);

/// The gateway's precise amount (`Transfer::precise`) against the fake's exact one: equal
/// wherever the result fits `i128`, and refused as too large (`TooLarge`) exactly where the
/// fake's exact result does not fit.
fn same_precise(
    body: &[u8],
    amount: f64,
    precision: f64,
    precise_amount: Option<i128>,
) -> Result<(), TestCaseError> {
    let theirs = fake_precise::apply_precision(amount, precision, precise_amount);
    let shown = || format!("{amount:e} x {precision:e}: {}", body.escape_ascii());
    match apply_precision(amount, precision, precise_amount) {
        Ok(p) => prop_assert_eq!(Some(p), theirs, "{}", shown()),
        Err(Unreadable::TooLarge { field: "amount" }) => {
            prop_assert!(theirs.is_none(), "{}: fake {:?}", shown(), theirs);
        }
        Err(e) => prop_assert!(false, "{}: {:?}", shown(), e),
    }
    Ok(())
}

fn check(tape: &[u8]) -> Result<(), TestCaseError> {
    let b = body(tape, RECORD);
    let (ours_t, fake_t) = (transfer(&b), fake::record_transaction(&b));
    if let (Ok(t), Ok(_)) = (&ours_t, &fake_t) {
        same_precise(&b, t.amount, t.precision, t.precise_amount)?;
    }
    agree(&b, ours_t.map(|t| ours(&t)), fake_t.map(|t| theirs(&t)))?;

    let b = body(tape, BULK);
    if let (Ok(x), Ok(_)) = (bulk(&b), fake::bulk(&b)) {
        for t in x.transactions.iter().flatten() {
            same_precise(&b, t.amount, t.precision, t.precise_amount)?;
        }
    }
    let flags = |i, a, r, s, d| [i, a, r, s, d];
    let ours_bulk = bulk(&b).map(|x| -> BulkView {
        let items = x
            .transactions
            .iter()
            .map(|t| t.as_ref().map(ours))
            .collect();
        (
            items,
            flags(x.inflight, x.atomic, x.run_async, x.skip_queue, x.dry_run),
        )
    });
    let fake_bulk = fake::bulk(&b).map(|x| -> BulkView {
        let items = x
            .transactions
            .iter()
            .map(|t| t.as_ref().map(theirs))
            .collect();
        (
            items,
            flags(x.inflight, x.atomic, x.run_async, x.skip_queue, x.dry_run),
        )
    });
    agree(&b, ours_bulk, fake_bulk)?;

    let b = body(tape, UPDATE);
    let ours_update = inflight_update(&b).map(|u| -> UpdateView {
        (
            u.status.to_string(),
            u.amount.to_bits(),
            u.precise_amount,
            [u.skip_queue, u.dry_run],
        )
    });
    let fake_update = fake::inflight_update(&b).map(|u| -> UpdateView {
        (
            u.status,
            u.amount.to_bits(),
            u.precise_amount,
            [u.skip_queue, u.dry_run],
        )
    });
    agree(&b, ours_update, fake_update)?;

    let ours_view = |x: BulkInflight| -> InflightView {
        let items = x.commits.iter().map(|c| {
            (
                c.transaction_id.to_string(),
                c.amount.to_bits(),
                c.precise_amount,
            )
        });
        let ids = x.transaction_ids.iter().map(|s| s.to_string()).collect();
        (items.collect(), ids, [x.skip_queue, x.dry_run])
    };
    let b = body(tape, COMMIT);
    let fake_commit = fake::bulk_commit(&b).map(|x| -> InflightView {
        let items = x.transactions.iter().map(|c| {
            (
                c.transaction_id.clone(),
                c.amount.to_bits(),
                c.precise_amount,
            )
        });
        (items.collect(), Vec::new(), [x.skip_queue, x.dry_run])
    });
    agree(&b, bulk_commit(&b).map(ours_view), fake_commit)?;

    let b = body(tape, VOID);
    let fake_void = fake::bulk_void(&b).map(|x| -> InflightView {
        (
            Vec::new(),
            x.transaction_ids.to_vec(),
            [x.skip_queue, x.dry_run],
        )
    });
    agree(&b, bulk_void(&b).map(ours_view), fake_void)?;

    let b = body(tape, REFUND);
    let ours_refund = refund(&b).map(|r| (r.skip_queue, r.dry_run, r.description.to_string()));
    let fake_refund = fake::refund(&b).map(|r| (r.skip_queue, r.dry_run, r.description));
    agree(&b, ours_refund, fake_refund)
}

/// The fake's tree for one of ours.
fn as_go(v: Value) -> Go {
    match v.node() {
        Node::Null => Go::Null,
        Node::Bool(b) => Go::Bool(*b),
        Node::Num(n) => Go::Num(n.to_string()),
        Node::Str(s) => Go::Str {
            text: s.to_string(),
            verbatim: matches!(s, std::borrow::Cow::Borrowed(_)),
        },
        Node::Arr { .. } => Go::Arr(v.items().map(as_go).collect()),
        Node::Obj { .. } => Go::Obj(
            v.entries()
                .map(|(k, v)| (k.to_string(), as_go(v)))
                .collect(),
        ),
    }
}

/// 2000 cases, or `PROPTEST_CASES` (which `with_cases` would otherwise override).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn blnk_bodies_bind_as_the_fake_binds_them(tape in prop::collection::vec(any::<u8>(), 0..600)) {
        check(&tape)?;
    }

    #[test]
    fn precise_amounts_agree_with_the_fake_s_exact_decimals(
        amount in prop_oneof![
            any::<f64>(),
            (0u64..10_000_000_000, 0u32..9).prop_map(|(n, d)| n as f64 / 10f64.powi(d as i32)),
            // Up to 17 digits scaled down as far as f64 goes, to meet a precision scaled up
            // (products past u128 whose results fit i128: 5001622.05 at 1e30).
            (1u64..100_000_000_000_000_000, -340i32..20)
                .prop_map(|(n, e)| format!("{n}e{e}").parse::<f64>().unwrap_or(0.0)),
        ],
        precision in prop_oneof![
            prop::sample::select(vec![0.0, 1.0, 100.0, 1e8, 0.5, 2.5, 3.5, -100.0, 1e18, 1e30, 1e300]),
            any::<f64>(),
            (1u64..100_000_000_000_000_000, 0i32..300)
                .prop_map(|(n, e)| format!("{n}e{e}").parse::<f64>().unwrap_or(1.0)),
        ],
    ) {
        prop_assume!(amount.is_finite() && precision.is_finite());
        same_precise(b"", amount, precision, None)?;
    }

    #[test]
    fn any_json_decodes_as_the_fake_decodes_it(tape in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut g = Gen { tape: &tape, at: 0 };
        let mut b = Vec::new();
        ws(&mut g, &mut b);
        any_value(&mut g, 0, true, &mut b);
        let at = g.pick(256) % (b.len() + 1);
        match g.pick(10) {
            9 => b.truncate(at),
            8 if at < b.len() => b[at] = g.pick(256) as u8,
            7 => b.extend_from_slice(b"{} x"),
            _ => {}
        }
        let ours = decode_first(&b).map(|d| as_go(d.root()));
        let theirs = fake_json::decode_first(&b);
        match (ours, theirs) {
            (Ok(a), Ok(t)) => prop_assert_eq!(a, t, "{}", b.escape_ascii()),
            (Err(_), Err(_)) => {}
            (o, t) => prop_assert!(false, "{}: gateway {:?}, fake {:?}", b.escape_ascii(), o, t),
        }
    }

    #[test]
    fn keys_fold_as_the_fake_folds_them(tape in prop::collection::vec(any::<u8>(), 0..40)) {
        let mut g = Gen { tape: &tape, at: 0 };
        let (name, _) = *g.one(RECORD);
        let mut k = Vec::new();
        key(&mut g, name, &mut k);
        let doc = decode_first(&k).unwrap();
        let Node::Str(key) = doc.root().node() else { unreachable!() };
        for (field, _) in RECORD {
            prop_assert_eq!(binds(key, field), fake_json::folds_to(key, field), "{} {}", key, field);
        }
    }
}
