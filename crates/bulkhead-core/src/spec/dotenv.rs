//! Compose `.env` file parsing (compose-go dotenv semantics): `KEY=VALUE` lines, comments,
//! `export`, single- and double-quoted (possibly multi-line) values, escapes and interpolation.
//! Errors give the line and the kind of problem, never the bytes: the file may be one its reader
//! must not learn (see the tenant boundary in ARCHITECTURE.md).

use super::interpolate::{InterpolateError, interpolate};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DotenvError {
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: String },
}

/// Parse `.env` text into ordered (key, value) pairs. `lookup` resolves `${VAR}` references in
/// unquoted and double-quoted values; when `lookup` has no value, earlier keys of the same file do.
pub fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, DotenvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n");
    let mut cursor = Cursor {
        rest: &text,
        line: 1,
    };
    let mut entries: Vec<(String, String)> = Vec::new();
    while !cursor.rest.is_empty() {
        if let Some((key, value)) = cursor.statement(&entries, lookup)? {
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
        }
    }
    Ok(entries)
}

fn syntax(line: usize, reason: impl Into<String>) -> DotenvError {
    DotenvError::Syntax {
        line,
        reason: reason.into(),
    }
}

/// How a value was written, which decides escapes and interpolation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    Unquoted,
    Single,
    Double,
}

/// The unparsed remainder of the file and the 1-based line it starts on.
struct Cursor<'t> {
    rest: &'t str,
    line: usize,
}

impl<'t> Cursor<'t> {
    /// Split off the current line (without its `\n`) and advance past it.
    fn take_line(&mut self) -> &'t str {
        let (line, rest) = self.rest.split_once('\n').unwrap_or((self.rest, ""));
        self.rest = rest;
        self.line += 1;
        line
    }

    /// Consume one statement: a blank or comment line yields `None`, an assignment its pair.
    fn statement(
        &mut self,
        earlier: &[(String, String)],
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<(String, String)>, DotenvError> {
        let line_no = self.line;
        let whole = self.rest;
        let line = self.take_line();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return Ok(None);
        }
        let statement = strip_export(trimmed);
        let Some((raw_key, raw_value)) = statement.split_once('=') else {
            return Err(syntax(line_no, "expected NAME=value (no `=` on the line)"));
        };
        let key = check_key(raw_key.trim(), line_no)?;
        let value_src = raw_value.trim_start_matches([' ', '\t']);
        let (quoting, raw) = match value_src.chars().next() {
            Some(quote @ ('\'' | '"')) => {
                // `value_src` is a suffix of `line`, itself a prefix of `whole`.
                let body_start = line.len() - value_src.len() + 1;
                let body_src = whole.get(body_start..).unwrap_or_default();
                let quoting = if quote == '"' {
                    Quoting::Double
                } else {
                    Quoting::Single
                };
                (quoting, self.quoted(body_src, quoting, line_no)?)
            }
            _ => (Quoting::Unquoted, strip_inline_comment(raw_value).trim()),
        };
        let value =
            expand(raw, quoting, earlier, lookup).map_err(|reason| syntax(line_no, reason))?;
        Ok(Some((key.to_owned(), value)))
    }

    /// Read a quoted body from `src` (just past the opening quote, which may run past the
    /// current line); leave the cursor after the line holding the closing quote.
    fn quoted(
        &mut self,
        src: &'t str,
        quoting: Quoting,
        line_no: usize,
    ) -> Result<&'t str, DotenvError> {
        let kind = if quoting == Quoting::Double {
            "double"
        } else {
            "single"
        };
        let close = find_closing_quote(src, quoting)
            .ok_or_else(|| syntax(line_no, format!("unterminated {kind}-quoted value")))?;
        let body = src.get(..close).unwrap_or_default();
        let after = src.get(close + 1..).unwrap_or_default();
        let extra_lines = body.matches('\n').count();
        self.rest = after;
        self.line = line_no + extra_lines;
        let tail = self.take_line().trim_start();
        if !tail.is_empty() && !tail.starts_with('#') {
            return Err(syntax(
                line_no + extra_lines,
                format!("unexpected text after the closing {kind} quote"),
            ));
        }
        Ok(body)
    }
}

/// Drop a leading `export` keyword (followed by blanks) from a statement.
fn strip_export(statement: &str) -> &str {
    match statement.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => statement,
    }
}

/// Validate a variable name: `[A-Za-z_][A-Za-z0-9_.-]*`.
fn check_key(key: &str, line_no: usize) -> Result<&str, DotenvError> {
    let mut chars = key.chars();
    match chars.next() {
        None => return Err(syntax(line_no, "missing variable name before `=`")),
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        Some(_) => {
            return Err(syntax(
                line_no,
                "a variable name must start with a letter or `_`",
            ));
        }
    }
    match chars.find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        Some(_) => Err(syntax(
            line_no,
            "a variable name may hold only letters, digits, `_`, `.` and `-`",
        )),
        None => Ok(key),
    }
}

/// Cut an unquoted value at an inline comment: a `#` preceded by a blank.
fn strip_inline_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    let cut = bytes
        .windows(2)
        .position(|w| matches!(w, [b' ' | b'\t', b'#']))
        .unwrap_or(bytes.len());
    value.get(..cut).unwrap_or(value)
}

/// Offset of the closing quote in `src`; in double quotes a backslash escapes the next byte.
fn find_closing_quote(src: &str, quoting: Quoting) -> Option<usize> {
    let bytes = src.as_bytes();
    let quote = if quoting == Quoting::Double {
        b'"'
    } else {
        b'\''
    };
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == quote {
            return Some(i);
        }
        i += if b == b'\\' && quoting == Quoting::Double {
            2
        } else {
            1
        };
    }
    None
}

/// Turn a raw value into its final text: escapes for double quotes, then interpolation for
/// unquoted and double-quoted values, with earlier keys of the file visible after `lookup`.
fn expand(
    raw: &str,
    quoting: Quoting,
    earlier: &[(String, String)],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let template = match quoting {
        Quoting::Single => return Ok(raw.to_owned()),
        Quoting::Unquoted => raw.to_owned(),
        Quoting::Double => unescape_to_template(raw),
    };
    // As in Compose: the process environment first, then the file's earlier keys.
    let scoped = |name: &str| {
        lookup(name).or_else(|| {
            earlier
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    };
    // The reason never quotes the file: it may be one the reader must not learn the bytes of.
    interpolate(&template, &scoped)
        .map(|done| done.value)
        .map_err(|err| match err {
            InterpolateError::Required { .. } => {
                "the value needs a variable that is not set (`${NAME:?...}`)".to_owned()
            }
            InterpolateError::Syntax { offset, .. } => format!(
                "invalid interpolation at byte {offset} of the value; escape a literal dollar sign as $$"
            ),
        })
}

/// Resolve double-quote escapes into an interpolation template: `\$` becomes `$$` so it stays a
/// literal dollar; unknown escapes are kept verbatim, backslash included.
fn unescape_to_template(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('$') => out.push_str("$$"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/me".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn pairs(text: &str) -> Result<Vec<(String, String)>, DotenvError> {
        parse(text, &env)
    }

    #[test]
    fn values_table() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            // blank lines, comments, basic pairs
            ("", &[]),
            ("\n\n  \n", &[]),
            ("# comment\n  # indented comment\n", &[]),
            ("A=1", &[("A", "1")]),
            ("A=1\nB=2\n", &[("A", "1"), ("B", "2")]),
            ("A=", &[("A", "")]),
            ("  A  =  spaced value  \n", &[("A", "spaced value")]),
            ("\tA\t=\tx\t", &[("A", "x")]),
            ("A=a=b", &[("A", "a=b")]),
            ("_a.b-c9=1", &[("_a.b-c9", "1")]),
            // export
            ("export A=1", &[("A", "1")]),
            ("export\tA=1", &[("A", "1")]),
            ("export=1", &[("export", "1")]),
            ("exported=1", &[("exported", "1")]),
            // inline comments on unquoted values
            ("A=x # note", &[("A", "x")]),
            ("A=x\t# note", &[("A", "x")]),
            ("A=x#y", &[("A", "x#y")]),
            ("A=#y", &[("A", "#y")]),
            ("A= # only a comment", &[("A", "")]),
            // single quotes: literal
            ("A='x # y'", &[("A", "x # y")]),
            ("A='$HOME \\n'", &[("A", "$HOME \\n")]),
            ("A='a\nb'", &[("A", "a\nb")]),
            ("A='x' # note", &[("A", "x")]),
            ("A=''", &[("A", "")]),
            // double quotes: escapes and interpolation
            ("A=\"x # y\"", &[("A", "x # y")]),
            (r#"A="a\nb\tc\rd""#, &[("A", "a\nb\tc\rd")]),
            (r#"A="q\"q\\b""#, &[("A", "q\"q\\b")]),
            (r#"A="\$HOME $HOME""#, &[("A", "$HOME /home/me")]),
            (r#"A="\x\'""#, &[("A", "\\x\\'")]),
            (
                "A=\"line1\nline2\"\nB=2",
                &[("A", "line1\nline2"), ("B", "2")],
            ),
            ("A=\"\"", &[("A", "")]),
            // interpolation in unquoted values
            ("A=$HOME/x", &[("A", "/home/me/x")]),
            ("A=${MISSING:-dflt}", &[("A", "dflt")]),
            ("A=${MISSING}", &[("A", "")]),
            ("A=$$", &[("A", "$")]),
            // earlier keys are visible; the process environment wins over them, as in Compose
            ("A=1\nB=${A}2", &[("A", "1"), ("B", "12")]),
            (
                "HOME=/root\nB=\"$HOME\"",
                &[("HOME", "/root"), ("B", "/home/me")],
            ),
            ("B=$A\nA=1", &[("B", ""), ("A", "1")]),
            // duplicates: later wins, first position kept
            ("A=1\nB=2\nA=3", &[("A", "3"), ("B", "2")]),
            ("A=1\nA=${A}${A}", &[("A", "11")]),
            // BOM and CRLF
            ("\u{feff}A=1", &[("A", "1")]),
            (
                "A=1\r\nB='x'\r\nC=\"y\"\r\n",
                &[("A", "1"), ("B", "x"), ("C", "y")],
            ),
            ("A=\"a\r\nb\"", &[("A", "a\nb")]),
            // UTF-8 values
            ("A=héllo wörld", &[("A", "héllo wörld")]),
            ("A=\"日本 ${HOME}\"", &[("A", "日本 /home/me")]),
        ];
        for (text, expected) in cases {
            let got = pairs(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            assert_eq!(got, expected, "{text:?}");
        }
    }

    #[test]
    fn errors_table() {
        let cases: &[(&str, usize, &str)] = &[
            ("CANARY", 1, "expected NAME=value"),
            ("A=1\n\nexport CANARY\n", 3, "expected NAME=value"),
            ("=1", 1, "missing variable name"),
            ("1CANARY=1", 1, "must start with a letter"),
            ("A CANARY=1", 1, "may hold only letters"),
            ("CANARY$=1", 1, "may hold only letters"),
            (
                "A=1\nB=\"CANARY\nstill open",
                2,
                "unterminated double-quoted value",
            ),
            ("A='CANARY", 1, "unterminated single-quoted value"),
            ("A=\"esc\\\"", 1, "unterminated double-quoted value"),
            (
                "A=\"x\" CANARY",
                1,
                "unexpected text after the closing double quote",
            ),
            ("A='a\nb' CANARY", 2, "after the closing single quote"),
            ("A=${CANARY:?CANARY}", 1, "needs a variable that is not set"),
            (
                "A=1\nB=\"${CANARY?}\"",
                2,
                "needs a variable that is not set",
            ),
            ("A=$1", 1, "invalid interpolation at byte 0"),
            ("X=\"a\nb\"\nA=${CANARY", 3, "invalid interpolation"),
            ("A=${CANARY:x}", 1, "invalid interpolation"),
        ];
        // An error names the line and the kind of problem, never the file's bytes.
        for (text, line, reason) in cases {
            match pairs(text) {
                Err(DotenvError::Syntax {
                    line: got,
                    reason: why,
                }) => {
                    assert_eq!(got, *line, "line for {text:?}");
                    assert!(why.contains(reason), "{text:?}: {why:?} lacks {reason:?}");
                    assert!(!why.contains("CANARY"), "{text:?}: {why:?} quotes the file");
                }
                other => panic!("{text:?}: expected error, got {other:?}"),
            }
        }
    }

    #[test]
    fn error_display_names_the_line() {
        let err = pairs("A=1\nB").expect_err("missing =");
        assert_eq!(
            err.to_string(),
            "line 2: expected NAME=value (no `=` on the line)"
        );
    }
}
