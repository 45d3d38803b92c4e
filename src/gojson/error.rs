//! Why a body could not be read the way Blnk reads it. A category and a place (a byte offset, a
//! field's JSON name), never the body's content: bodies carry references, account ids and
//! metadata that must not reach a log.

use crate::limits::GOJSON_MAX_DEPTH;

/// A body the gateway cannot read exactly as Blnk's Go code reads it. Every money-moving route
/// refuses such a body (fails closed) instead of guessing what Blnk would make of it.
///
/// Most variants are bodies Blnk refuses too (it answers 400 and does nothing); [`TooDeep`] and
/// [`TooLarge`] are bodies Blnk would read but the gateway will not.
///
/// [`TooDeep`]: Unreadable::TooDeep
/// [`TooLarge`]: Unreadable::TooLarge
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    /// No JSON value at all: the body is empty or only whitespace (Go's `io.EOF`).
    #[error("empty body")]
    Empty,
    /// The body ends inside its first JSON value (Go's `io.ErrUnexpectedEOF`).
    #[error("body ends inside its first JSON value")]
    Truncated,
    /// A byte that cannot stand where it is in the first JSON value.
    #[error("JSON syntax error at byte {at}")]
    Syntax { at: usize },
    /// Arrays and objects nested deeper than [`GOJSON_MAX_DEPTH`] (Go allows 10,000).
    #[error("JSON nested deeper than {GOJSON_MAX_DEPTH} levels at byte {at}")]
    TooDeep { at: usize },
    /// The first JSON value is neither an object nor `null`.
    #[error("body is not a JSON object")]
    NotAnObject,
    /// A value Go cannot bind to the field with this JSON name (a string for a number, a
    /// fraction for a `*big.Int`, a date that is not RFC 3339, ...).
    #[error("wrong type for field {field}")]
    WrongType { field: &'static str },
    /// A number beyond float64's range in this field (`strconv.ParseFloat`'s range error).
    #[error("number out of float64 range in field {field}")]
    OutOfRange { field: &'static str },
    /// An integer Blnk holds in a `*big.Int` (any size) that does not fit the gateway's `i128`,
    /// or a precise amount whose computation would not.
    #[error("value of field {field} does not fit in 128 bits")]
    TooLarge { field: &'static str },
}
