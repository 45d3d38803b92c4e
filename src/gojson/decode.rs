//! The first JSON value of a body, read as Go's `json.Decoder.Decode` reads it
//! (`encoding/json/stream.go` `readValue`, `scanner.go`): leading whitespace skipped, the first
//! value checked whole against JSON's grammar, and whatever follows it (a second value, garbage)
//! never looked at. An empty body is [`Unreadable::Empty`] (Go's `io.EOF`).
//!
//! The value is kept as a flat list of nodes in document order (a container's node is followed
//! by its contents and records where they end), so a body costs one growing allocation, not one
//! per object. Strings are unquoted by `unquote`; numbers stay as their literal text, for the
//! binding rules to convert as Go converts them. What a value means for a struct is `bind`'s.

use std::borrow::Cow;

use super::error::Unreadable;
use super::unquote::string;
use crate::limits::GOJSON_MAX_DEPTH;

/// One JSON value, or the head of an array or object.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    /// A number's literal text, valid JSON number syntax.
    Num(&'a str),
    /// A string as Go unquotes it. Borrowed exactly when the literal had no escape and no invalid
    /// UTF-8 byte, that is when its raw bytes are its text.
    Str(Cow<'a, str>),
    /// An array; its values are the nodes after it, up to (not including) node `end`.
    Arr {
        end: usize,
    },
    /// An object; the nodes after it, up to node `end`, alternate a key (`Str`) and a value.
    Obj {
        end: usize,
    },
}

/// The first JSON value of a body.
#[derive(Debug, Clone)]
pub struct Doc<'a> {
    nodes: Vec<Node<'a>>,
}

impl<'a> Doc<'a> {
    pub fn root(&self) -> Value<'_, 'a> {
        Value {
            nodes: &self.nodes,
            at: 0,
        }
    }
}

/// A value inside a [`Doc`].
#[derive(Debug, Clone, Copy)]
pub struct Value<'d, 'a> {
    nodes: &'d [Node<'a>],
    at: usize,
}

impl<'d, 'a> Value<'d, 'a> {
    pub fn node(self) -> &'d Node<'a> {
        &self.nodes[self.at]
    }

    /// The index just past this value and everything inside it.
    fn end(self) -> usize {
        match self.node() {
            Node::Arr { end } | Node::Obj { end } => *end,
            _ => self.at + 1,
        }
    }

    /// This value's nodes, its own first: for checks that look at everything inside it.
    pub fn nodes(self) -> &'d [Node<'a>] {
        &self.nodes[self.at..self.end()]
    }

    /// An array's values in order (nothing for any other value).
    pub fn items(self) -> Items<'d, 'a> {
        let (next, end) = match self.node() {
            Node::Arr { end } => (self.at + 1, *end),
            _ => (0, 0),
        };
        Items {
            nodes: self.nodes,
            next,
            end,
        }
    }

    /// An object's keys and values in order, duplicates included (nothing for any other value).
    pub fn entries(self) -> Entries<'d, 'a> {
        let (next, end) = match self.node() {
            Node::Obj { end } => (self.at + 1, *end),
            _ => (0, 0),
        };
        Entries {
            nodes: self.nodes,
            next,
            end,
        }
    }
}

/// The values of an array.
pub struct Items<'d, 'a> {
    nodes: &'d [Node<'a>],
    next: usize,
    end: usize,
}

impl<'d, 'a> Iterator for Items<'d, 'a> {
    type Item = Value<'d, 'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let value = Value {
            nodes: self.nodes,
            at: self.next,
        };
        self.next = value.end();
        Some(value)
    }
}

/// The keys and values of an object.
pub struct Entries<'d, 'a> {
    nodes: &'d [Node<'a>],
    next: usize,
    end: usize,
}

impl<'d, 'a> Iterator for Entries<'d, 'a> {
    type Item = (&'d str, Value<'d, 'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next + 1 >= self.end {
            return None;
        }
        let key = match &self.nodes[self.next] {
            Node::Str(k) => k.as_ref(),
            _ => "",
        };
        let value = Value {
            nodes: self.nodes,
            at: self.next + 1,
        };
        self.next = value.end();
        Some((key, value))
    }
}

/// The first JSON value of `body`, checked whole; the bytes after it are ignored.
pub fn decode_first(body: &[u8]) -> Result<Doc<'_>, Unreadable> {
    let mut p = Parser {
        b: body,
        i: 0,
        // A transfer takes a node per 10 to 15 bytes; the vector grows if a body needs more.
        nodes: Vec::with_capacity((body.len() / 10 + 4).min(4096)),
    };
    p.ws();
    if p.i == body.len() {
        return Err(Unreadable::Empty);
    }
    p.value(0)?;
    Ok(Doc { nodes: p.nodes })
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    nodes: Vec<Node<'a>>,
}

impl<'a> Parser<'a> {
    /// Go's `isSpace`: the four whitespace bytes of JSON, nothing else.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The error for the byte at `i`: the body ended, or this byte cannot stand here.
    fn bad(&self) -> Unreadable {
        if self.i >= self.b.len() {
            Unreadable::Truncated
        } else {
            Unreadable::Syntax { at: self.i }
        }
    }

    /// One value starting at `i` (no whitespace before it); `depth` containers are open.
    fn value(&mut self, depth: usize) -> Result<(), Unreadable> {
        match self.b.get(self.i) {
            Some(b'{') => self.container(depth, true),
            Some(b'[') => self.container(depth, false),
            Some(b'"') => {
                let (text, next) = string(self.b, self.i)?;
                self.nodes.push(Node::Str(text));
                self.i = next;
                Ok(())
            }
            Some(b't') => self.literal(b"true", Node::Bool(true)),
            Some(b'f') => self.literal(b"false", Node::Bool(false)),
            Some(b'n') => self.literal(b"null", Node::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.bad()),
        }
    }

    fn literal(&mut self, word: &[u8], node: Node<'a>) -> Result<(), Unreadable> {
        for &w in word {
            if self.b.get(self.i) != Some(&w) {
                return Err(self.bad());
            }
            self.i += 1;
        }
        self.nodes.push(node);
        Ok(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`: a `0` followed by a digit ends the
    /// number at the `0` (what follows is then out of place, or ignored after a top-level value).
    fn number(&mut self) -> Result<(), Unreadable> {
        let start = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.bad()),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            self.some_digits()?;
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).map_err(|_| self.bad())?;
        self.nodes.push(Node::Num(text));
        Ok(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn some_digits(&mut self) -> Result<(), Unreadable> {
        match self.b.get(self.i) {
            Some(b'0'..=b'9') => {
                self.digits();
                Ok(())
            }
            _ => Err(self.bad()),
        }
    }

    /// An object or an array: `{` or `[` at `i`.
    fn container(&mut self, depth: usize, object: bool) -> Result<(), Unreadable> {
        let depth = depth + 1;
        if depth > GOJSON_MAX_DEPTH {
            return Err(Unreadable::TooDeep { at: self.i });
        }
        let close = if object { b'}' } else { b']' };
        let at = self.nodes.len();
        self.nodes.push(Node::Null);
        self.i += 1;
        self.ws();
        if self.b.get(self.i) == Some(&close) {
            self.i += 1;
        } else {
            loop {
                if object {
                    self.key()?;
                }
                self.value(depth)?;
                self.ws();
                match self.b.get(self.i) {
                    Some(b',') => {
                        self.i += 1;
                        self.ws();
                    }
                    Some(&c) if c == close => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(self.bad()),
                }
            }
        }
        let end = self.nodes.len();
        self.nodes[at] = if object {
            Node::Obj { end }
        } else {
            Node::Arr { end }
        };
        Ok(())
    }

    /// An object's key and the `:` after it, and the whitespace before its value.
    fn key(&mut self) -> Result<(), Unreadable> {
        if self.b.get(self.i) != Some(&b'"') {
            return Err(self.bad());
        }
        let (text, next) = string(self.b, self.i)?;
        self.nodes.push(Node::Str(text));
        self.i = next;
        self.ws();
        if self.b.get(self.i) != Some(&b':') {
            return Err(self.bad());
        }
        self.i += 1;
        self.ws();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
