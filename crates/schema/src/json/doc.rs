//! [`Doc`]: a small, strict reader of JSON text that borrows from it. It parses into a flat
//! list of nodes (a "tape": each node knows its byte span and where its subtree ends), so
//! reading a value allocates nothing but that list, any member's raw text can be copied as is,
//! and nesting cannot overflow the stack. Used by the browser module, where `serde_json` would
//! cost tens of kilobytes of wasm.

use std::borrow::Cow;

use super::{whole_from_literal, Json, Kind};
use crate::text::first_special;

/// A parsed JSON document.
#[derive(Debug, Clone)]
pub struct Doc<'a> {
    src: &'a str,
    nodes: Vec<Tok>,
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    kind: Kind,
    /// A string with backslash escapes.
    escaped: bool,
    start: u32,
    end: u32,
    /// The index of the first node after this node's subtree.
    next: u32,
}

/// One value of a [`Doc`].
#[derive(Debug, Clone, Copy)]
pub struct Node<'d, 'a> {
    doc: &'d Doc<'a>,
    at: usize,
}

/// Why a text is not JSON: the byte offset where reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxError(pub usize);

#[derive(Clone, Copy, PartialEq)]
enum Expect {
    Value,
    ValueOrClose,
    Key,
    KeyOrClose,
    CommaOrClose,
}

impl<'a> Doc<'a> {
    /// Parses `src`, which must hold exactly one JSON value (whitespace around it allowed).
    pub fn parse(src: &'a str) -> Result<Doc<'a>, SyntaxError> {
        Self::read::<false>(src).map(|(doc, _)| doc)
    }

    /// [`Doc::parse`], and how the text is written beyond its values ([`Shape`]), noted while
    /// reading: what a reader needs to know to tell whether another JSON parser reads the text
    /// the same way.
    pub fn parse_with_shape(src: &'a str) -> Result<(Doc<'a>, Shape), SyntaxError> {
        Self::read::<true>(src)
    }

    /// The parser; with `SHAPE` it notes the [`Shape`] too (compiled out without it, so the
    /// browser module, which never asks, carries none of it).
    fn read<const SHAPE: bool>(src: &'a str) -> Result<(Doc<'a>, Shape), SyntaxError> {
        let b = src.as_bytes();
        let mut shape = Shape {
            compact: true,
            depth: 0,
            digit_numbers: true,
            surrogate_escape: false,
        };
        // About one node per 8 bytes of event JSON, so that a batch's document rarely regrows;
        // at most 4,096 up front (a large body of long strings needs far fewer).
        let mut nodes: Vec<Tok> = Vec::with_capacity((b.len() / 8).min(4096) + 4);
        let mut open: Vec<usize> = Vec::new();
        let mut i = 0;
        let mut expect = Expect::Value;
        loop {
            let before = i;
            while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
                i += 1;
            }
            if SHAPE && i != before {
                shape.compact = false;
            }
            if open.is_empty() && expect == Expect::CommaOrClose {
                return if i == b.len() {
                    Ok((Doc { src, nodes }, shape))
                } else {
                    Err(SyntaxError(i))
                };
            }
            let Some(&c) = b.get(i) else {
                return Err(SyntaxError(i));
            };
            match expect {
                Expect::ValueOrClose if c == b']' => {
                    close(&mut nodes, &mut open, &mut i);
                    expect = Expect::CommaOrClose;
                }
                Expect::KeyOrClose if c == b'}' => {
                    close(&mut nodes, &mut open, &mut i);
                    expect = Expect::CommaOrClose;
                }
                Expect::Key | Expect::KeyOrClose => {
                    if c != b'"' {
                        return Err(SyntaxError(i));
                    }
                    let (end, escaped) = noted_string::<SHAPE>(b, i, &mut shape)?;
                    push(&mut nodes, Kind::String, escaped, i, end);
                    i = end;
                    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
                        i += 1;
                    }
                    if SHAPE && i != end {
                        shape.compact = false;
                    }
                    if b.get(i) != Some(&b':') {
                        return Err(SyntaxError(i));
                    }
                    i += 1;
                    expect = Expect::Value;
                }
                Expect::CommaOrClose => {
                    let top = open[open.len() - 1];
                    match (c, nodes[top].kind) {
                        (b',', Kind::Object) => expect = Expect::Key,
                        (b',', _) => expect = Expect::Value,
                        (b'}', Kind::Object) | (b']', Kind::Array) => {
                            close(&mut nodes, &mut open, &mut i);
                            continue;
                        }
                        _ => return Err(SyntaxError(i)),
                    }
                    i += 1;
                }
                Expect::Value | Expect::ValueOrClose => {
                    let start = i;
                    let (kind, end, escaped) = match c {
                        b'{' | b'[' => {
                            let kind = if c == b'{' { Kind::Object } else { Kind::Array };
                            open.push(nodes.len());
                            if SHAPE {
                                shape.depth = shape.depth.max(open.len());
                            }
                            push(&mut nodes, kind, false, i, i + 1);
                            i += 1;
                            expect = if c == b'{' {
                                Expect::KeyOrClose
                            } else {
                                Expect::ValueOrClose
                            };
                            continue;
                        }
                        b'"' => {
                            let (end, escaped) = noted_string::<SHAPE>(b, i, &mut shape)?;
                            (Kind::String, end, escaped)
                        }
                        b't' => (Kind::Bool, literal(b, i, b"true")?, false),
                        b'f' => (Kind::Bool, literal(b, i, b"false")?, false),
                        b'n' => (Kind::Null, literal(b, i, b"null")?, false),
                        b'-' | b'0'..=b'9' => {
                            let end = number(b, i)?;
                            if SHAPE && (end - i > 19 || !b[i..end].iter().all(u8::is_ascii_digit))
                            {
                                shape.digit_numbers = false;
                            }
                            (Kind::Number, end, false)
                        }
                        _ => return Err(SyntaxError(i)),
                    };
                    push(&mut nodes, kind, escaped, start, end);
                    i = end;
                    expect = Expect::CommaOrClose;
                }
            }
        }
    }

    /// The document's value.
    pub fn root(&self) -> Node<'_, 'a> {
        Node { doc: self, at: 0 }
    }
}

/// How a [`Doc`]'s text is written beyond its values ([`Doc::parse_with_shape`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// No whitespace outside strings.
    pub compact: bool,
    /// The deepest nesting of arrays and objects (0 for a scalar).
    pub depth: usize,
    /// Every number is digits only (no sign, fraction or exponent), at most 19 of them.
    pub digit_numbers: bool,
    /// Some string has a `\u` escape of a surrogate (U+D800 to U+DFFF), which parsers read
    /// differently when it is unpaired.
    pub surrogate_escape: bool,
}

/// Whether the string literal `text` has a `\u` escape of a surrogate.
fn has_surrogate_escape(text: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&c) = text.get(i) {
        if c != b'\\' {
            i += 1;
            continue;
        }
        if text.get(i + 1) == Some(&b'u')
            && matches!(text.get(i + 2), Some(b'd' | b'D'))
            && matches!(
                text.get(i + 3),
                Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
            )
        {
            return true;
        }
        // The escaped character is never the start of another escape.
        i += 2;
    }
    false
}

fn push(nodes: &mut Vec<Tok>, kind: Kind, escaped: bool, start: usize, end: usize) {
    let next = nodes.len() as u32 + 1;
    nodes.push(Tok {
        kind,
        escaped,
        start: start as u32,
        end: end as u32,
        next,
    });
}

fn close(nodes: &mut [Tok], open: &mut Vec<usize>, i: &mut usize) {
    if let Some(at) = open.pop() {
        let next = nodes.len() as u32;
        nodes[at].end = *i as u32 + 1;
        nodes[at].next = next;
    }
    *i += 1;
}

/// [`string`] (a key or a value), noting in `shape` a `\u` escape of a surrogate. Always
/// inlined: as a call of its own it cost the browser module 63 bytes (gzip).
#[inline(always)]
fn noted_string<const SHAPE: bool>(
    b: &[u8],
    i: usize,
    shape: &mut Shape,
) -> Result<(usize, bool), SyntaxError> {
    let (end, escaped) = string(b, i)?;
    if SHAPE && escaped && has_surrogate_escape(&b[i..end]) {
        shape.surrogate_escape = true;
    }
    Ok((end, escaped))
}

/// The end of the string starting at `b[i] == '"'`, and whether it has escapes.
fn string(b: &[u8], mut i: usize) -> Result<(usize, bool), SyntaxError> {
    let mut escaped = false;
    i += 1;
    loop {
        // Eight bytes at a time over the plain run of the string (most of an event's bytes),
        // then straight to the quote or backslash that ends it.
        while let Some(chunk) = b.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
            if let Some(at) = first_special(chunk) {
                i += at;
                break;
            }
            i += 8;
        }
        match b.get(i) {
            None => return Err(SyntaxError(i)),
            Some(b'"') => return Ok((i + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                match b.get(i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                    Some(b'u')
                        if b.len() >= i + 6
                            && b[i + 2..i + 6].iter().all(u8::is_ascii_hexdigit) =>
                    {
                        i += 6
                    }
                    _ => return Err(SyntaxError(i)),
                }
            }
            Some(0..=0x1f) => return Err(SyntaxError(i)),
            Some(_) => i += 1,
        }
    }
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Result<usize, SyntaxError> {
    if b.len() >= i + word.len() && &b[i..i + word.len()] == word {
        Ok(i + word.len())
    } else {
        Err(SyntaxError(i))
    }
}

/// The end of the number starting at `i`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number(b: &[u8], mut i: usize) -> Result<usize, SyntaxError> {
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    let first = i;
    match digits(&mut i) {
        0 => return Err(SyntaxError(i)),
        n if n > 1 && b[first] == b'0' => return Err(SyntaxError(first)),
        _ => {}
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return Err(SyntaxError(i));
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return Err(SyntaxError(i));
        }
    }
    Ok(i)
}

/// The text of a JSON string literal's content, escapes decoded (lone surrogates become
/// U+FFFD).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('\\') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let b = rest.as_bytes();
        let (c, used) = match b[at + 1] {
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            b'u' => {
                // Byte slices, not str slices: the bytes after an escape may be anything.
                let hi = hex4(b.get(at + 2..at + 6));
                let lo =
                    (b.get(at + 6..at + 8) == Some(b"\\u")).then(|| hex4(b.get(at + 8..at + 12)));
                match (hi, lo) {
                    (0xD800..=0xDBFF, Some(lo @ 0xDC00..=0xDFFF)) => {
                        let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        (char::from_u32(c).unwrap_or('\u{fffd}'), 12)
                    }
                    _ => (char::from_u32(hi).unwrap_or('\u{fffd}'), 6),
                }
            }
            other => (char::from(other), 2),
        };
        out.push(c);
        rest = rest.get(at + used..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// Four hex digits (checked by the parser), as a number; `0xFFFF` (not a character) when
/// they are missing.
fn hex4(digits: Option<&[u8]>) -> u32 {
    match digits {
        Some(d) if d.len() == 4 => d
            .iter()
            .fold(0, |n, c| n * 16 + char::from(*c).to_digit(16).unwrap_or(0)),
        _ => 0xFFFF,
    }
}

impl<'d, 'a> Node<'d, 'a> {
    fn tok(&self) -> Tok {
        self.doc.nodes[self.at]
    }

    /// The value's text exactly as it appears in the document.
    pub fn raw(&self) -> &'a str {
        let t = self.tok();
        self.doc
            .src
            .get(t.start as usize..t.end as usize)
            .unwrap_or_default()
    }

    fn children(&self) -> Vec<Node<'d, 'a>> {
        let t = self.tok();
        let mut out = Vec::new();
        let mut at = self.at + 1;
        if matches!(t.kind, Kind::Object | Kind::Array) {
            while at < t.next as usize {
                out.push(Node { doc: self.doc, at });
                at = self.doc.nodes[at].next as usize;
            }
        }
        out
    }

    /// The members of an object with their keys as written (quotes and escapes included),
    /// for copying members into other JSON text unchanged.
    pub fn raw_members(&self) -> Vec<(&'a str, Node<'d, 'a>)> {
        let mut out = Vec::new();
        self.pairs(|key, value| out.push((key.raw(), value)));
        out
    }

    /// Calls `f` with each key/value pair of an object (its key's node, its value), walked
    /// in place: no list of children is built first.
    fn pairs(&self, mut f: impl FnMut(Node<'d, 'a>, Node<'d, 'a>)) {
        let t = self.tok();
        if t.kind != Kind::Object {
            return;
        }
        // Keys and values alternate; a key's `next` is its value.
        let mut at = self.at + 1;
        while at < t.next as usize {
            let key = Node { doc: self.doc, at };
            let value = self.doc.nodes[at].next as usize;
            if value >= t.next as usize {
                return;
            }
            at = self.doc.nodes[value].next as usize;
            f(
                key,
                Node {
                    doc: self.doc,
                    at: value,
                },
            );
        }
    }
}

impl<'d, 'a: 'd> Json<'d> for Node<'d, 'a> {
    fn kind(self) -> Kind {
        self.tok().kind
    }

    fn as_str(self) -> Option<Cow<'d, str>> {
        let t = self.tok();
        if t.kind != Kind::String {
            return None;
        }
        let raw = self.raw();
        let inner = raw.get(1..raw.len() - 1).unwrap_or_default();
        Some(if t.escaped {
            Cow::Owned(unescape(inner))
        } else {
            Cow::Borrowed(inner)
        })
    }

    fn as_bool(self) -> Option<bool> {
        match (self.tok().kind, self.raw()) {
            (Kind::Bool, "true") => Some(true),
            (Kind::Bool, _) => Some(false),
            _ => None,
        }
    }

    fn as_whole(self) -> Option<u64> {
        (self.tok().kind == Kind::Number)
            .then(|| whole_from_literal(self.raw()))
            .flatten()
    }

    fn get(self, key: &str) -> Option<Self> {
        let t = self.tok();
        if t.kind != Kind::Object {
            return None;
        }
        // Walks the key/value pairs in place (no list of members is built); the last of
        // repeated keys wins, as `JSON.parse` and `serde_json` read them.
        let mut found = None;
        let mut at = self.at + 1;
        while at < t.next as usize {
            let value = self.doc.nodes[at].next as usize;
            if value >= t.next as usize {
                break;
            }
            if (Node { doc: self.doc, at })
                .as_str()
                .is_some_and(|k| k == key)
            {
                found = Some(Node {
                    doc: self.doc,
                    at: value,
                });
            }
            at = self.doc.nodes[value].next as usize;
        }
        found
    }

    fn members(self) -> Vec<(Cow<'d, str>, Self)> {
        let mut out = Vec::new();
        self.each_member(|key, value| out.push((key, value)));
        out
    }

    fn each_member(self, mut f: impl FnMut(Cow<'d, str>, Self)) {
        self.pairs(|key, value| f(key.as_str().unwrap_or_default(), value));
    }

    fn items(self) -> Vec<Self> {
        if self.tok().kind == Kind::Array {
            self.children()
        } else {
            Vec::new()
        }
    }

    fn text(self) -> Cow<'d, str> {
        Cow::Borrowed(self.raw())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_serde(text: &str) {
        let doc = Doc::parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        fn walk<'d, 'a: 'd>(n: Node<'d, 'a>, v: &serde_json::Value) {
            assert_eq!(n.kind(), Json::kind(v), "{}", n.raw());
            assert_eq!(n.as_str(), Json::as_str(v));
            assert_eq!(n.as_bool(), Json::as_bool(v));
            assert_eq!(n.as_whole(), Json::as_whole(v), "{}", n.raw());
            let (a, b) = (n.items(), Json::items(v));
            assert_eq!(a.len(), b.len());
            a.into_iter().zip(b).for_each(|(x, y)| walk(x, y));
            let (a, b) = (n.members(), Json::members(v));
            assert_eq!(a.len(), b.len());
            for ((ka, va), (kb, vb)) in a.into_iter().zip(b) {
                assert_eq!(ka, kb);
                walk(va, vb);
            }
        }
        walk(doc.root(), &value);
    }

    #[test]
    fn reads_what_serde_json_reads() {
        for text in [
            r#"{"a":1,"b":[true,false,null,"x"],"c":{"d":"e\"f\\g\nh\u00e9\ud83d\ude00"}}"#,
            " [ 1 , -2.5e3 , 0 , 12.0 , 1e2 , \"\" , {} , [] ] ",
            r#""just a string""#,
            "9007199254740993",
            r#"{"k\u0041":"v"}"#,
        ] {
            same_as_serde(text);
        }
    }

    #[test]
    fn refuses_what_is_not_json() {
        for text in [
            "",
            "{",
            "}",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "01",
            "1.",
            ".5",
            "-",
            "+1",
            "tru",
            "\"a",
            "\"\\x\"",
            "\"\\u12\"",
            "[1 2]",
            "{\"a\" 1}",
            "1 2",
            "\"tab\tin\"",
            "nul",
        ] {
            assert!(Doc::parse(text).is_err(), "{text:?} must be refused");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let text = "[".repeat(100_000) + &"]".repeat(100_000);
        let doc = Doc::parse(&text).unwrap();
        assert_eq!(super::super::depth(doc.root()), 100_000);
    }

    #[test]
    fn strings_across_words_read_as_serde_reads_them() {
        // Strings that end, escape or break inside and across the words the scan skips.
        for text in [
            r#""abcdefgh""#,
            r#""abcdefghi""#,
            r#""abcdefg\"x""#,
            r#"["0123456789abcdef\n0123456789","é très long texte sans échappement ok"]"#,
        ] {
            same_as_serde(text);
        }
        assert!(Doc::parse("\"abcdefghij\u{1}klmnop\"").is_err());
        assert!(Doc::parse("\"abcdefghijklmnop").is_err());
    }

    #[test]
    fn raw_members_keep_the_text() {
        let doc = Doc::parse(r#"{"a" : {"x":[1, 2]},"b\n":"y"}"#).unwrap();
        let m = doc.root().raw_members();
        assert_eq!((m[0].0, m[0].1.raw()), ("\"a\"", r#"{"x":[1, 2]}"#));
        assert_eq!((m[1].0, m[1].1.raw()), ("\"b\\n\"", "\"y\""));
        assert_eq!(doc.root().get("b\n").unwrap().as_str().unwrap(), "y");
        assert_eq!(
            Doc::parse(r#""\ud800x""#).unwrap().root().as_str().unwrap(),
            "\u{fffd}x",
            "a lone surrogate"
        );
    }
}
