//! Redis-style glob patterns (SCAN MATCH, KEYS): `*`, `?`, `[abc]`, `[^abc]`, `[a-z]`,
//! `\x` escapes; byte-wise and case-sensitive, as Redis's `stringmatchlen`.
//!
//! The pattern is compiled once into single-byte tokens and matched with the iterative
//! "backtrack to the last star" algorithm: O(pattern * key) time in the worst case, no
//! recursion (Redis's recursive matcher needed a nesting cap against `*a*a*a...b`).
//!
//! Edge cases follow Redis: `[]` matches nothing; an unterminated `[abc` is a class
//! running to the end of the pattern; a range `[z-a]` is the same as `[a-z]`; a trailing
//! lone `\` matches a `\`. One deliberate difference: `*` matches the empty string
//! (Redis's loop never runs for an empty key; ringkv has no empty keys anyway).

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Any run of bytes, possibly empty (consecutive stars are merged).
    Star,
    /// Any one byte.
    Any,
    Byte(u8),
    /// A set of bytes as a 256-bit map (negation already applied).
    Class([u64; 4]),
}

impl Token {
    fn matches(&self, b: u8) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Byte(x) => *x == b,
            Token::Class(bits) => class_has(bits, b),
        }
    }
}

fn class_has(bits: &[u64; 4], b: u8) -> bool {
    bits.get(usize::from(b >> 6)).is_some_and(|w| w & (1u64 << (b & 63)) != 0)
}

fn class_add(bits: &mut [u64; 4], b: u8) {
    if let Some(w) = bits.get_mut(usize::from(b >> 6)) {
        *w |= 1u64 << (b & 63);
    }
}

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
    /// The pattern is just `*` (or empty stars): every key matches.
    match_all: bool,
}

impl Glob {
    /// Compiles `pattern`; every byte string is a valid pattern.
    pub fn new(pattern: &[u8]) -> Glob {
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut i = 0usize;
        while let Some(&c) = pattern.get(i) {
            i = i.saturating_add(1);
            match c {
                b'*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                b'?' => tokens.push(Token::Any),
                b'\\' => match pattern.get(i) {
                    Some(&e) => {
                        tokens.push(Token::Byte(e));
                        i = i.saturating_add(1);
                    }
                    None => tokens.push(Token::Byte(b'\\')),
                },
                b'[' => {
                    let (token, next) = compile_class(pattern, i);
                    tokens.push(token);
                    i = next;
                }
                other => tokens.push(Token::Byte(other)),
            }
        }
        let match_all = tokens == [Token::Star];
        Glob { tokens, match_all }
    }

    /// Whether `s` matches the whole pattern.
    pub fn matches(&self, s: &[u8]) -> bool {
        if self.match_all {
            return true;
        }
        let toks = &self.tokens;
        let (mut p, mut i) = (0usize, 0usize);
        // (index of the last star seen, position in `s` it currently absorbs up to)
        let mut star: Option<(usize, usize)> = None;
        while let Some(&b) = s.get(i) {
            match toks.get(p) {
                Some(Token::Star) => {
                    star = Some((p, i));
                    p = p.saturating_add(1);
                    continue;
                }
                Some(t) if t.matches(b) => {
                    p = p.saturating_add(1);
                    i = i.saturating_add(1);
                    continue;
                }
                _ => {}
            }
            // Mismatch: let the last star absorb one more byte and retry after it.
            match star {
                Some((sp, si)) => {
                    let si = si.saturating_add(1);
                    star = Some((sp, si));
                    p = sp.saturating_add(1);
                    i = si;
                }
                None => return false,
            }
        }
        while toks.get(p) == Some(&Token::Star) {
            p = p.saturating_add(1);
        }
        p == toks.len()
    }

    /// True when the pattern matches every key (`*`): a SCAN can skip matching.
    pub fn matches_everything(&self) -> bool {
        self.match_all
    }
}

/// Compiles a class whose body starts at `pattern[i]` (just after `[`); returns the token
/// and the index after the closing `]` (or the pattern's end if there is none).
fn compile_class(pattern: &[u8], mut i: usize) -> (Token, usize) {
    let mut bits = [0u64; 4];
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i = i.saturating_add(1);
    }
    loop {
        let rest = pattern.get(i..).unwrap_or_default();
        match rest {
            [] => break,
            [b'\\', e, ..] => {
                class_add(&mut bits, *e);
                i = i.saturating_add(2);
            }
            [b']', ..] => {
                i = i.saturating_add(1);
                break;
            }
            [a, b'-', z, ..] => {
                let (lo, hi) = if a <= z { (*a, *z) } else { (*z, *a) };
                for b in lo..=hi {
                    class_add(&mut bits, b);
                }
                i = i.saturating_add(3);
            }
            [c, ..] => {
                class_add(&mut bits, *c);
                i = i.saturating_add(1);
            }
        }
    }
    if negate {
        bits.iter_mut().for_each(|w| *w = !*w);
    }
    (Token::Class(bits), i)
}

/// One-shot match: compiles `pattern` and matches `s`. Compile once with [`Glob::new`]
/// when matching many keys.
pub fn glob_match(pattern: &[u8], s: &[u8]) -> bool {
    Glob::new(pattern).matches(s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes())
    }

    #[test]
    fn literals_and_wildcards() {
        assert!(m("hello", "hello"));
        assert!(!m("hello", "hell"));
        assert!(!m("hell", "hello"));
        assert!(m("h?llo", "hallo"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("*", "anything"));
        assert!(m("*", ""));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("user:*", "user:1"));
        assert!(!m("user:*", "order:1"));
        assert!(m("*:1", "user:1"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("a**b", "ab"));
        assert!(m("*a*", "banana"));
        assert!(m("*ana", "banana"));
        assert!(!m("*anx", "banana"));
        assert!(m("?*", "x"));
        assert!(!m("?*", ""));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed range");
        assert!(m("[0-9][0-9]", "42"));
        assert!(!m("[]", "a"), "empty class matches nothing");
        assert!(!m("[]", ""));
        assert!(m("[abc", "b"), "unterminated class runs to the end");
        assert!(!m("[abc", "bx"));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(m("[a\\-z]", "-"));
        assert!(!m("[a\\-z]", "m"));
        assert!(m("[^a-z]", "A"));
        assert!(m("[*]", "*"));
        assert!(!m("[*]", "x"));
    }

    #[test]
    fn escapes() {
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("\\?", "?"));
        assert!(!m("\\?", "x"));
        assert!(m("\\[x]", "[x]"));
        assert!(m("abc\\", "abc\\"), "a trailing backslash is literal");
        assert!(m("\\a", "a"));
    }

    #[test]
    fn binary_bytes() {
        assert!(glob_match(b"\xff*\x00", b"\xff\x01\x02\x00"));
        assert!(glob_match(b"[\x80-\xff]", b"\x90"));
        assert!(!glob_match(b"[^\x00-\x7f]", b"a"));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        // Exponential for naive recursive matchers.
        let pattern = "*a".repeat(1000) + "b";
        let s = "a".repeat(1024);
        let g = Glob::new(pattern.as_bytes());
        let start = std::time::Instant::now();
        assert!(!g.matches(s.as_bytes()));
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        assert!(g.matches(("a".repeat(1000) + "b").as_bytes()));
    }

    #[test]
    fn match_all() {
        assert!(Glob::new(b"*").matches_everything());
        assert!(Glob::new(b"***").matches_everything());
        assert!(!Glob::new(b"a*").matches_everything());
    }

    /// A reference recursive matcher (exponential, small inputs only).
    fn reference(p: &[Token], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((Token::Star, rest)) => (0..=s.len()).any(|k| reference(rest, &s[k..])),
            Some((t, rest)) => s.split_first().is_some_and(|(b, srest)| t.matches(*b) && reference(rest, srest)),
        }
    }

    proptest! {
        #[test]
        fn agrees_with_reference(p in proptest::collection::vec(prop_oneof![
            Just(b'*'), Just(b'?'), Just(b'['), Just(b']'), Just(b'^'), Just(b'-'), Just(b'\\'), Just(b'a'), Just(b'b')
        ], 0..10), s in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'-'), Just(b'*')], 0..10)) {
            let g = Glob::new(&p);
            prop_assert_eq!(g.matches(&s), reference(&g.tokens, &s));
        }

        #[test]
        fn escaped_literal_matches_itself(s in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut p = Vec::new();
            for b in &s {
                p.push(b'\\');
                p.push(*b);
            }
            prop_assert!(glob_match(&p, &s));
        }
    }
}
