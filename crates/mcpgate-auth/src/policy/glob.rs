//! Name patterns: an exact name, or a glob with `*` (any run of characters,
//! also none) and `?` (exactly one character). Nothing else is special, so a
//! pattern can never be an expensive regular expression.
//!
//! Matching is greedy and never backtracks further than the last `*`: the
//! pattern is cut at its `*`s into fixed-length segments, the first is
//! anchored at the start of the name, the last at its end, and each one in
//! between is taken at its leftmost position. Leftmost is always right
//! (a later segment can only gain room), so a name is scanned once per
//! segment start: at most `len(name) × len(pattern)` character comparisons,
//! linear in the name for a given pattern, and patterns are capped at
//! [`MAX_PATTERN_BYTES`].

use std::fmt;

/// The longest pattern accepted (bytes). Names of tools, prompts and
/// resources are short; the cap bounds the work per match.
pub const MAX_PATTERN_BYTES: usize = 256;

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is empty.
    #[error("is empty")]
    Empty,
    /// The pattern is longer than [`MAX_PATTERN_BYTES`].
    #[error("is longer than {MAX_PATTERN_BYTES} bytes")]
    TooLong,
}

/// One character position of a segment: a literal, or `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
}

/// A validated name pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct NamePattern {
    source: String,
    /// `None` for an exact name (no `*` or `?`); otherwise the segments
    /// between `*`s (the first and last may be empty).
    segments: Option<Vec<Vec<Token>>>,
}

impl NamePattern {
    /// Parses a pattern; a string without `*` or `?` is an exact name.
    pub fn new(pattern: &str) -> Result<Self, PatternError> {
        if pattern.is_empty() {
            return Err(PatternError::Empty);
        }
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(PatternError::TooLong);
        }
        let segments = if pattern.contains(['*', '?']) {
            Some(
                pattern
                    .split('*')
                    .map(|segment| {
                        segment
                            .chars()
                            .map(|c| if c == '?' { Token::Any } else { Token::Char(c) })
                            .collect()
                    })
                    .collect(),
            )
        } else {
            None
        };
        Ok(Self {
            source: pattern.to_owned(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The exact name, if this pattern has no wildcard.
    pub fn exact(&self) -> Option<&str> {
        match self.segments {
            None => Some(&self.source),
            Some(_) => None,
        }
    }

    /// Whether `name` matches. Allocation-free.
    pub fn matches(&self, name: &str) -> bool {
        let Some(segments) = &self.segments else {
            return self.source == name;
        };
        // `split('*')` yields at least one segment; with exactly one there
        // was no `*` and the whole name must match it.
        let (first, rest) = segments.split_first().expect("split yields a segment");
        let Some(mut pos) = match_at(name, 0, first) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return pos == name.len();
        };
        for segment in middle {
            match find_from(name, pos, segment) {
                Some(end) => pos = end,
                None => return false,
            }
        }
        // The last segment is anchored at the end: it covers exactly its
        // own number of characters there, which must not overlap what the
        // earlier segments consumed.
        let Some(start) = start_of_last_chars(name, last.len()) else {
            return false;
        };
        start >= pos && match_at(name, start, last) == Some(name.len())
    }
}

/// Matches `segment` at byte offset `start`; the end offset on success.
fn match_at(name: &str, start: usize, segment: &[Token]) -> Option<usize> {
    let mut chars = name[start..].char_indices();
    let mut end = start;
    for token in segment {
        let (offset, c) = chars.next()?;
        if let Token::Char(expected) = token
            && *expected != c
        {
            return None;
        }
        end = start + offset + c.len_utf8();
    }
    Some(end)
}

/// The end of the leftmost occurrence of `segment` at or after `from`.
fn find_from(name: &str, from: usize, segment: &[Token]) -> Option<usize> {
    let tail = &name[from..];
    for (offset, _) in tail.char_indices() {
        if let Some(end) = match_at(name, from + offset, segment) {
            return Some(end);
        }
    }
    // An empty segment (`**`) matches at the very end too.
    segment.is_empty().then_some(name.len())
}

/// The byte offset where the last `count` characters of `name` begin.
fn start_of_last_chars(name: &str, count: usize) -> Option<usize> {
    if count == 0 {
        return Some(name.len());
    }
    name.char_indices().rev().nth(count - 1).map(|(i, _)| i)
}

impl fmt::Debug for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NamePattern({:?})", self.source)
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        NamePattern::new(pattern).unwrap().matches(name)
    }

    #[test]
    fn exact_names_match_only_themselves() {
        let p = NamePattern::new("add").unwrap();
        assert_eq!(p.exact(), Some("add"));
        assert!(p.matches("add"));
        assert!(!p.matches("addx"));
        assert!(!p.matches("ad"));
    }

    #[test]
    fn star_matches_any_run_including_none() {
        assert!(m("admin_*", "admin_"));
        assert!(m("admin_*", "admin_delete"));
        assert!(!m("admin_*", "admin"));
        assert!(!m("admin_*", "xadmin_delete"));
        assert!(m("*_delete", "user_delete"));
        assert!(!m("*_delete", "user_delete2"));
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYcZ"));
        assert!(m("**", "x"));
        assert!(m("a**b", "ab"));
    }

    #[test]
    fn question_mark_matches_exactly_one_character() {
        assert!(m("v?", "v1"));
        assert!(!m("v?", "v"));
        assert!(!m("v?", "v12"));
        assert!(m("v?", "vé"), "one character, not one byte");
        assert!(m("*?", "é"));
        assert!(!m("?*?", "é"));
    }

    #[test]
    fn last_segment_does_not_overlap_earlier_ones() {
        // "ab" consumed by the first segment leaves nothing for "ba".
        assert!(!m("ab*ba", "aba"));
        assert!(m("ab*ba", "abba"));
        assert!(m("a*a", "aa"));
        assert!(!m("a*a", "a"));
    }

    #[test]
    fn uris_match_with_globs() {
        assert!(m("file:///docs/*", "file:///docs/a/b.md"));
        assert!(m("users://{id}/profile", "users://{id}/profile"));
        assert!(!m("users://*/profile", "users://1/settings"));
    }

    #[test]
    fn refuses_empty_and_overlong_patterns() {
        assert_eq!(NamePattern::new(""), Err(PatternError::Empty));
        assert_eq!(
            NamePattern::new(&"*".repeat(MAX_PATTERN_BYTES + 1)),
            Err(PatternError::TooLong)
        );
        // The worst case the cap allows still ends (no exponential backtracking).
        let p = NamePattern::new(&"*a".repeat(MAX_PATTERN_BYTES / 2)).unwrap();
        assert!(!p.matches(&"a".repeat(127)));
        assert!(p.matches(&"ba".repeat(200)));
    }

    proptest::proptest! {
        /// Agrees with a simple reference matcher (exponential, small inputs).
        #[test]
        fn agrees_with_reference(pattern in "[ab*?]{1,8}", name in "[ab]{0,10}") {
            fn reference(p: &[char], n: &[char]) -> bool {
                match p.split_first() {
                    None => n.is_empty(),
                    Some(('*', rest)) => (0..=n.len()).any(|i| reference(rest, &n[i..])),
                    Some(('?', rest)) => !n.is_empty() && reference(rest, &n[1..]),
                    Some((c, rest)) => n.first() == Some(c) && reference(rest, &n[1..]),
                }
            }
            let p: Vec<char> = pattern.chars().collect();
            let n: Vec<char> = name.chars().collect();
            proptest::prop_assert_eq!(m(&pattern, &name), reference(&p, &n));
        }
    }
}
