//! pppd's word lexer, shared by the options file and chap-secrets.
//!
//! pppd(8), "OPTIONS FILES": "the options file is parsed into a series of words, delimited by
//! whitespace. Whitespace can be included in a word by enclosing the word in double-quotes (\").
//! A backslash (\\) quotes the following character. A hash (#) starts a comment, which continues
//! until the end of the line." and "AUTHENTICATION": "A secrets file is parsed into words as for a
//! options file".
//!
//! This follows pppd's `getword()` (options.c) byte for byte:
//! - single quotes quote as double quotes do, and quotes may open and close inside a word
//!   (`ab"c d"e` is the word `abc de`); inside quotes `#` and whitespace are ordinary;
//! - a backslash works inside and outside quotes: `\a \b \f \n \r \s \t` as in C (`\s` is a
//!   space), `\ooo` up to three octal digits, `\xhh` up to two hex digits, a backslash before a
//!   newline joins the lines, and before any other character stands for that character;
//! - a `#` that is not quoted ends the word and starts a comment.
//!
//! Unlike pppd (which warns and goes on), a quote left open at the end of the file and a NUL
//! byte inside a word are errors: both would silently change a secret.

use super::error::Problem;

/// One word of a pppd-style file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    /// The word after quotes and escapes are resolved; may be any bytes.
    pub bytes: Vec<u8>,
    /// The line (1-based) on which the word starts.
    pub line: u32,
    /// Whether a newline came before this word (or it is the first word of the file): pppd
    /// starts a new chap-secrets entry at such a word.
    pub first_on_line: bool,
}

impl Word {
    /// The word as text, lossily (for messages and option names).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// A lexing error and the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    /// The line of the word in error.
    pub line: u32,
    /// What is wrong.
    pub problem: Problem,
}

/// A byte cursor that counts lines.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: u32,
}

impl Cursor<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.bytes.get(self.pos)?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// Puts back the byte just read by `next`.
    fn unget(&mut self, c: u8) {
        self.pos = self.pos.saturating_sub(1);
        if c == b'\n' {
            self.line = self.line.saturating_sub(1);
        }
    }
}

/// C's `isspace` in the "C" locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn is_octal(c: u8) -> bool {
    (b'0'..=b'7').contains(&c)
}

/// Splits `text` into pppd words.
pub(crate) fn split_words(text: &str) -> Result<Vec<Word>, LexError> {
    let mut cursor = Cursor {
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    let mut words = Vec::new();
    while let Some(word) = next_word(&mut cursor, words.is_empty())? {
        words.push(word);
    }
    Ok(words)
}

/// Reads one word, or `None` at the end of the text.
fn next_word(cursor: &mut Cursor<'_>, first: bool) -> Result<Option<Word>, LexError> {
    let mut newline = first;
    let mut escape = false;
    let mut comment = false;

    // Skip white space and comments; `c` is the first byte of the word.
    let mut c = loop {
        let Some(c) = cursor.next() else {
            return Ok(None);
        };
        if c == b'\n' {
            // A newline ends a comment; backslash-newline is ignored.
            if escape {
                escape = false;
            } else {
                newline = true;
                comment = false;
            }
            continue;
        }
        if comment {
            continue;
        }
        if escape {
            break Some(c);
        }
        if c == b'\\' {
            escape = true;
            continue;
        }
        if c == b'#' {
            comment = true;
            continue;
        }
        if !is_space(c) {
            break Some(c);
        }
    };

    let line = cursor.line;
    let mut bytes = Vec::new();
    let mut quoted: Option<u8> = None;
    while let Some(ch) = c {
        if escape {
            escape = false;
            if ch == b'\n' {
                c = cursor.next();
                continue;
            }
            let (value, next) = match ch {
                b'a' => (0x07, None),
                b'b' => (0x08, None),
                b'f' => (0x0c, None),
                b'n' => (b'\n', None),
                b'r' => (b'\r', None),
                b's' => (b' ', None),
                b't' => (b'\t', None),
                b'x' => {
                    let mut value: u32 = 0;
                    let mut next = cursor.next();
                    for _ in 0..2 {
                        match next.and_then(|d| char::from(d).to_digit(16)) {
                            Some(digit) => {
                                value = (value << 4) | digit;
                                next = cursor.next();
                            }
                            None => break,
                        }
                    }
                    (value as u8, Some(next))
                }
                d if is_octal(d) => {
                    let mut value: u32 = 0;
                    let mut next = Some(d);
                    for _ in 0..3 {
                        match next {
                            Some(d) if is_octal(d) => {
                                value = (value << 3) | u32::from(d - b'0');
                                next = cursor.next();
                            }
                            _ => break,
                        }
                    }
                    // pppd stores the value in a `char`: `\777` keeps its low 8 bits.
                    ((value & 0xff) as u8, Some(next))
                }
                other => (other, None),
            };
            bytes.push(value);
            c = match next {
                Some(next) => next,
                None => cursor.next(),
            };
            continue;
        }
        if ch == b'\\' {
            escape = true;
            c = cursor.next();
            continue;
        }
        match quoted {
            Some(q) if ch == q => {
                quoted = None;
                c = cursor.next();
                continue;
            }
            Some(_) => {}
            None if ch == b'"' || ch == b'\'' => {
                quoted = Some(ch);
                c = cursor.next();
                continue;
            }
            None if is_space(ch) || ch == b'#' => {
                cursor.unget(ch);
                break;
            }
            None => {}
        }
        bytes.push(ch);
        c = cursor.next();
    }

    if quoted.is_some() && c.is_none() {
        return Err(LexError {
            line,
            problem: Problem::UnterminatedQuote,
        });
    }
    if bytes.contains(&0) {
        return Err(LexError {
            line,
            problem: Problem::NulInWord,
        });
    }
    Ok(Some(Word {
        bytes,
        line,
        first_on_line: newline,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(input: &str) -> Vec<String> {
        split_words(input).unwrap().iter().map(Word::text).collect()
    }

    #[test]
    fn plain_words_comments_and_lines() {
        let words = split_words("name pptpd # our name\n\n  ms-dns\n 10.0.0.1\n").unwrap();
        let got: Vec<_> = words
            .iter()
            .map(|w| (w.text(), w.line, w.first_on_line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("name".into(), 1, true),
                ("pptpd".into(), 1, false),
                ("ms-dns".into(), 3, true),
                ("10.0.0.1".into(), 4, true),
            ]
        );
    }

    #[test]
    fn quotes_keep_spaces_and_hashes() {
        assert_eq!(
            texts(r#"a "b c" 'd#e' f"g h"i"#),
            ["a", "b c", "d#e", "fg hi"]
        );
        assert_eq!(texts("'it''s'"), ["its"]);
        assert_eq!(texts(r#""say 'hi'""#), ["say 'hi'"]);
    }

    #[test]
    fn empty_quoted_word_is_a_word() {
        assert_eq!(texts("alice * \"\" *"), ["alice", "*", "", "*"]);
    }

    #[test]
    fn hash_ends_an_unquoted_word() {
        assert_eq!(texts("secret#comment\nnext"), ["secret", "next"]);
    }

    #[test]
    fn backslash_escapes_as_pppd() {
        assert_eq!(texts(r"a\ b"), ["a b"]);
        assert_eq!(texts(r"\#x"), ["#x"]);
        assert_eq!(texts(r"p\sq"), ["p q"]);
        assert_eq!(texts(r#"q\"uote"#), ["q\"uote"]);
        assert_eq!(texts(r"tab\there"), ["tab\there"]);
        assert_eq!(texts(r"\101\x42C"), ["ABC"]);
        assert_eq!(texts(r"\x4"), ["\u{4}"]);
        assert_eq!(texts(r"\1019"), ["A9"]);
        assert_eq!(texts(r#""in \"quotes\"""#), ["in \"quotes\""]);
    }

    #[test]
    fn backslash_newline_joins_lines() {
        let words = split_words("one two\\\nthree\nfour").unwrap();
        let got: Vec<_> = words.iter().map(|w| (w.text(), w.first_on_line)).collect();
        assert_eq!(
            got,
            vec![
                ("one".into(), true),
                ("twothree".into(), false),
                ("four".into(), true)
            ]
        );
        // Between words, backslash-newline does not start a new line either.
        let words = split_words("one \\\n two").unwrap();
        assert!(!words[1].first_on_line);
    }

    #[test]
    fn quoted_newline_is_part_of_the_word() {
        let words = split_words("a \"b\nc\" d\ne").unwrap();
        let got: Vec<_> = words
            .iter()
            .map(|w| (w.text(), w.line, w.first_on_line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".into(), 1, true),
                ("b\nc".into(), 1, false),
                ("d".into(), 2, false),
                ("e".into(), 3, true),
            ]
        );
    }

    #[test]
    fn crlf_is_whitespace() {
        assert_eq!(texts("a b\r\nc\r\n"), ["a", "b", "c"]);
    }

    #[test]
    fn non_ascii_bytes_pass_through() {
        assert_eq!(texts("pässwörd \\xff"), ["pässwörd", "\u{fffd}"]);
        let words = split_words("\\xff").unwrap();
        assert_eq!(words[0].bytes, [0xff]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let err = split_words("a\nb \"secret\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.problem, Problem::UnterminatedQuote);
    }

    #[test]
    fn nul_is_an_error() {
        let err = split_words("x\\000y").unwrap_err();
        assert_eq!(err.problem, Problem::NulInWord);
    }
}
