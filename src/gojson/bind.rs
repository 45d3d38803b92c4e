//! Go's rules for binding a decoded value into a struct's fields (`decode.go`: `object`,
//! `array`, `literalStore`, `indirect`), for the field types Blnk's request structs use:
//!
//! - Every key that binds to a field (see `fold`) is applied, in order: the last one wins.
//!   Unknown keys are skipped whatever they hold.
//! - `null` leaves a `string`, `bool` or `float64` as it was, and sets a pointer, slice or map
//!   to nil. Into a struct (a slice element) it changes nothing.
//! - Any other value of the wrong JSON type fails the whole bind (Blnk answers 400).
//! - `float64`: `strconv.ParseFloat`; a number beyond float64's range fails.
//! - `*big.Int`: `(*big.Int).UnmarshalJSON`, an integer literal of any size (no fraction, no
//!   exponent, no quotes). The gateway holds it in an `i128`; beyond, [`Unreadable::TooLarge`].
//! - `map[string]interface{}`: an object (merged into the map), or `null`; every number anywhere
//!   inside must be within float64's range (it becomes a `float64`).
//! - `*time.Time`: `(*time.Time).UnmarshalJSON` on the raw literal (see `rfc3339`), or `null`.
//! - Slices: Go decodes an array into the slice it already holds, reusing the elements of its
//!   backing array; see [`List`].

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use super::decode::{decode_first, Entries, Node, Value};
use super::error::Unreadable;
use super::rfc3339;

pub(super) type Bound = Result<(), Unreadable>;

/// A struct's fields: an enum of them and their JSON names (lower-case ASCII, checked when the
/// crate compiles), and the lookup of a key: an exact name first (a `match`, the common case),
/// then, only for a key with an upper-case or non-ASCII byte, Go's folding (`fold`).
macro_rules! fields {
    ($name:ident { $($field:ident = $json:literal),* $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum $name { $($field),* }
        impl $name {
            const ALL: &'static [($name, &'static str)] = &[$(($name::$field, $json)),*];
            /// The field `key` binds to, and its JSON name.
            fn of(key: &str) -> Option<($name, &'static str)> {
                match key {
                    $($json => Some(($name::$field, $json)),)*
                    _ if !super::fold::may_fold(key) => None,
                    _ => super::fold::lookup(key, Self::ALL),
                }
            }
        }
        const _: () = { $(assert!(super::fold::is_name($json));)* };
    };
}
pub(super) use fields;

/// A Go slice field after binding; derefs to the elements the slice holds.
///
/// Go decodes a JSON array into the slice the field already holds: element `i` is decoded into
/// the old element `i` of the backing array (up to its capacity) without zeroing it first, and
/// the slice is cut to the array's length. So a key repeated with an array
/// (`"sources":[{...}],"sources":[{"identifier":"y"}]`) keeps the first array's fields that the
/// second does not set, and an element written `null` keeps the old element. An empty array or
/// `null` drops the backing array. `List` keeps the elements past the length for that reason.
#[derive(Clone)]
pub struct List<T> {
    slots: Vec<T>,
    len: usize,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List {
            slots: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Deref for List<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.slots[..self.len]
    }
}

impl<T: fmt::Debug> fmt::Debug for List<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: PartialEq> PartialEq for List<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

/// A slice field: an array decoded element by element into the old elements (`elem`), `null`
/// for nil.
pub(super) fn list<'d, 'a, T: Default>(
    v: Value<'d, 'a>,
    into: &mut List<T>,
    field: &'static str,
    mut elem: impl FnMut(Value<'d, 'a>, &mut T) -> Bound,
) -> Bound {
    match v.node() {
        Node::Null => *into = List::default(),
        Node::Arr { .. } => {
            let mut n = 0;
            for item in v.items() {
                if n == into.slots.len() {
                    into.slots.push(T::default());
                }
                elem(item, &mut into.slots[n])?;
                n += 1;
            }
            if n == 0 {
                *into = List::default();
            }
            into.len = n;
        }
        _ => return Err(Unreadable::WrongType { field }),
    }
    Ok(())
}

/// The object a struct is bound from: its entries, or `None` for `null` (nothing changes).
pub(super) fn fields_of<'d, 'a>(
    v: Value<'d, 'a>,
    field: &'static str,
) -> Result<Option<Entries<'d, 'a>>, Unreadable> {
    match v.node() {
        Node::Obj { .. } => Ok(Some(v.entries())),
        Node::Null => Ok(None),
        _ => Err(Unreadable::WrongType { field }),
    }
}

/// Binds the first JSON value of `body` into a fresh `T` with `f`: an object is bound, `null`
/// leaves every field zero, anything else fails.
pub(super) fn body<'a, T: Default>(
    body: &'a [u8],
    f: impl for<'d> FnOnce(Entries<'d, 'a>, &mut T) -> Bound,
) -> Result<T, Unreadable> {
    let doc = decode_first(body)?;
    let mut out = T::default();
    match fields_of(doc.root(), "") {
        Ok(Some(entries)) => f(entries, &mut out)?,
        Ok(None) => {}
        Err(_) => return Err(Unreadable::NotAnObject),
    }
    Ok(out)
}

/// A `string` field.
pub(super) fn string<'a>(v: Value<'_, 'a>, into: &mut Cow<'a, str>, field: &'static str) -> Bound {
    match v.node() {
        Node::Str(s) => *into = s.clone(),
        Node::Null => {}
        _ => return Err(Unreadable::WrongType { field }),
    }
    Ok(())
}

/// A `string` field whose value the gateway does not keep: only its type is checked.
pub(super) fn check_string(v: Value<'_, '_>, field: &'static str) -> Bound {
    match v.node() {
        Node::Str(_) | Node::Null => Ok(()),
        _ => Err(Unreadable::WrongType { field }),
    }
}

/// A `bool` field.
pub(super) fn boolean(v: Value<'_, '_>, into: &mut bool, field: &'static str) -> Bound {
    match v.node() {
        Node::Bool(b) => *into = *b,
        Node::Null => {}
        _ => return Err(Unreadable::WrongType { field }),
    }
    Ok(())
}

/// A `float64` field: `strconv.ParseFloat(text, 64)`, whose result Rust's parser matches (both
/// round correctly); a result beyond float64's range is an error in Go, infinite in Rust.
pub(super) fn float(v: Value<'_, '_>, into: &mut f64, field: &'static str) -> Bound {
    match v.node() {
        Node::Num(text) => *into = parse_float(text, field)?,
        Node::Null => {}
        _ => return Err(Unreadable::WrongType { field }),
    }
    Ok(())
}

fn parse_float(text: &str, field: &'static str) -> Result<f64, Unreadable> {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        _ => Err(Unreadable::OutOfRange { field }),
    }
}

/// A `*big.Int` field. `UnmarshalJSON` gets the raw literal and reads it with `SetString(_, 0)`
/// semantics: JSON's number grammar leaves only `-?(0|[1-9][0-9]*)` as readable, so a fraction,
/// an exponent, a string, a bool, an array or an object is an error. `null` sets nil.
pub(super) fn big_int(v: Value<'_, '_>, into: &mut Option<i128>, field: &'static str) -> Bound {
    match v.node() {
        Node::Num(text) => {
            if text.bytes().any(|c| matches!(c, b'.' | b'e' | b'E')) {
                return Err(Unreadable::WrongType { field });
            }
            *into = Some(
                text.parse::<i128>()
                    .map_err(|_| Unreadable::TooLarge { field })?,
            );
        }
        Node::Null => *into = None,
        _ => return Err(Unreadable::WrongType { field }),
    }
    Ok(())
}

/// A `map[string]interface{}` field, checked only: an object, whose numbers (at any depth) must
/// each be a float64 (`convertNumber`), or `null`.
pub(super) fn check_map(v: Value<'_, '_>, field: &'static str) -> Bound {
    match v.node() {
        Node::Obj { .. } => {
            for node in v.nodes() {
                if let Node::Num(text) = node {
                    parse_float(text, field)?;
                }
            }
            Ok(())
        }
        Node::Null => Ok(()),
        _ => Err(Unreadable::WrongType { field }),
    }
}

/// A `*time.Time` field, checked only. `UnmarshalJSON` gets the raw literal, quotes included,
/// and parses what is between the quotes without unescaping it: a string with an escape or an
/// invalid byte (an owned one here) can never be RFC 3339.
pub(super) fn check_time(v: Value<'_, '_>, field: &'static str) -> Bound {
    match v.node() {
        Node::Str(Cow::Borrowed(text)) if rfc3339::go_accepts(text) => Ok(()),
        Node::Null => Ok(()),
        _ => Err(Unreadable::WrongType { field }),
    }
}
