//! A reader for Java `.properties` files, the format of Kafka's
//! `server.properties`.
//!
//! Follows the rules of `java.util.Properties#load`: `#` and `!` start a
//! comment line; a key ends at the first unescaped `=`, `:` or whitespace; a
//! line ending in an odd number of backslashes continues on the next line
//! (whose leading whitespace is dropped); `\t`, `\n`, `\r`, `\f` and `\uXXXX`
//! are escapes and a backslash before any other character stands for that
//! character. Unlike Java, values are trimmed at both ends, as Kafka's own
//! config parsing does before it interprets a value.

/// A malformed line, with its 1-based number in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertiesError {
    pub line: usize,
    pub message: String,
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Splits text into natural lines on `\n`, `\r\n` or `\r`.
fn natural_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < bytes.len() {
        lines.push(&text[start..]);
    }
    lines
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Parses properties text into `(key, value)` pairs in file order. A key that
/// appears twice is returned twice; the caller keeps the last.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, PropertiesError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = natural_lines(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first_line = i + 1;
        let line = lines[i].trim_start_matches(is_blank);
        i += 1;
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let mut logical = String::from(line);
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.get(i) {
                Some(next) => {
                    logical.push_str(next.trim_start_matches(is_blank));
                    i += 1;
                }
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        let key = unescape(key).map_err(|message| PropertiesError {
            line: first_line,
            message,
        })?;
        let value = unescape(value).map_err(|message| PropertiesError {
            line: first_line,
            message,
        })?;
        out.push((key, value.trim().to_string()));
    }
    Ok(out)
}

/// Splits a logical line (escapes still in place) into raw key and value.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut key_end = line.len();
    let mut separator_seen = false;
    let mut chars = line.char_indices();
    while let Some((pos, c)) = chars.next() {
        if c == '\\' {
            chars.next();
            continue;
        }
        if c == '=' || c == ':' {
            key_end = pos;
            separator_seen = true;
            break;
        }
        if is_blank(c) {
            key_end = pos;
            break;
        }
    }
    let key = &line[..key_end];
    let mut rest = &line[key_end..];
    if separator_seen {
        rest = &rest[1..];
    } else {
        rest = rest.trim_start_matches(is_blank);
        if let Some(stripped) = rest.strip_prefix(['=', ':']) {
            rest = stripped;
        }
    }
    (key, rest.trim_start_matches(is_blank))
}

fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| format!("malformed \\uXXXX escape \"\\u{hex}\""))?;
                // A lone UTF-16 surrogate cannot be a Rust char; keep the text visible.
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<(String, String)> {
        parse_properties(text).expect("valid properties")
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn separators_and_comments() {
        let text = "# comment\n! also a comment\n\n  a=1\nb: 2\nc 3\nd   =   4\ne\nf=\n";
        assert_eq!(
            parse(text),
            vec![
                kv("a", "1"),
                kv("b", "2"),
                kv("c", "3"),
                kv("d", "4"),
                kv("e", ""),
                kv("f", "")
            ]
        );
    }

    #[test]
    fn value_may_contain_separators() {
        assert_eq!(
            parse("listeners=PLAINTEXT://:9092,CONTROLLER://:9093\nx=a=b:c"),
            vec![
                kv("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
                kv("x", "a=b:c")
            ]
        );
    }

    #[test]
    fn line_continuations() {
        let text = "log.dirs=/a,\\\n    /b,\\\n\t/c\nnext=1";
        assert_eq!(
            parse(text),
            vec![kv("log.dirs", "/a,/b,/c"), kv("next", "1")]
        );
    }

    #[test]
    fn even_backslashes_do_not_continue() {
        assert_eq!(
            parse("path=C:\\\\\nnext=1"),
            vec![kv("path", "C:\\"), kv("next", "1")]
        );
    }

    #[test]
    fn continuation_at_end_of_file() {
        assert_eq!(parse("a=1\\"), vec![kv("a", "1")]);
    }

    #[test]
    fn comment_lines_do_not_continue() {
        assert_eq!(parse("# comment \\\na=1"), vec![kv("a", "1")]);
    }

    #[test]
    fn escapes_in_keys_and_values() {
        assert_eq!(
            parse("my\\ key\\=x = tab\\there\\u0041\\zend"),
            vec![kv("my key=x", "tab\there\u{41}zend")]
        );
    }

    #[test]
    fn crlf_and_cr_line_ends() {
        assert_eq!(
            parse("a=1\r\nb=2\rc=3"),
            vec![kv("a", "1"), kv("b", "2"), kv("c", "3")]
        );
    }

    #[test]
    fn values_are_trimmed() {
        assert_eq!(
            parse("a =  spaced value   \t"),
            vec![kv("a", "spaced value")]
        );
    }

    #[test]
    fn duplicates_are_kept_in_order() {
        assert_eq!(parse("a=1\na=2"), vec![kv("a", "1"), kv("a", "2")]);
    }

    #[test]
    fn malformed_unicode_escape_names_the_line() {
        let err = parse_properties("a=1\nb=\\u12G4").expect_err("bad escape");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("\\u"), "{}", err.message);
    }
}
