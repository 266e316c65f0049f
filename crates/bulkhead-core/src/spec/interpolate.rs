//! Compose variable interpolation (compose-go `template` semantics): `$$`, `$VAR`, `${VAR}` and
//! the `:-` `-` `:?` `?` `:+` `+` operators, with nested references inside their texts.
//!
//! The input is parsed completely (so a syntax error anywhere is reported, even in a branch that
//! the current environment does not take), then evaluated lazily: a default, alternative or error
//! text is only expanded when it is used.

/// Deepest `${...}` nesting accepted; one more level is a syntax error.
const MAX_DEPTH: usize = 32;

/// Outcome of interpolating one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    pub value: String,
    /// Variables referenced without a default that were unset (Compose substitutes "" and warns). In order of first use, no duplicates.
    pub unset: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    /// `${VAR:?msg}` / `${VAR?msg}` with VAR missing (or empty for `:?`).
    #[error("required variable {name} is missing a value: {message}")]
    Required { name: String, message: String },
    /// A `$` that is not a valid reference (e.g. `${}`, `${VAR`, `$1`, a trailing `$`, `${VAR:x}`).
    #[error(
        "invalid interpolation format at byte {offset}: {reason}; escape a literal dollar sign as $$"
    )]
    Syntax { offset: usize, reason: String },
}

/// Interpolate `input`, resolving variables through `lookup` (`None` means unset).
pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, InterpolateError> {
    let pieces = parse_seq(input, 0, input.len(), 0)?;
    let mut evaluator = Evaluator {
        lookup,
        unset: Vec::new(),
    };
    let mut value = String::with_capacity(input.len());
    evaluator.render(&pieces, &mut value)?;
    Ok(Interpolated {
        value,
        unset: evaluator.unset,
    })
}

/// What a braced operator does with its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// `-` / `:-`: use the text when the variable is not satisfied.
    Default,
    /// `?` / `:?`: fail with the text when the variable is not satisfied.
    Required,
    /// `+` / `:+`: use the text when the variable is satisfied, else "".
    Alternative,
}

/// A braced operator: its action, and whether an empty value counts as unset (the `:` form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    action: Action,
    empty_is_unset: bool,
}

#[derive(Debug)]
enum Piece<'a> {
    Text(&'a str),
    Var {
        name: &'a str,
        modifier: Option<(Operator, Vec<Piece<'a>>)>,
    },
}

fn syntax(offset: usize, reason: impl Into<String>) -> InterpolateError {
    InterpolateError::Syntax {
        offset,
        reason: reason.into(),
    }
}

fn is_name_start(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphabetic()
}

fn is_name_char(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphanumeric()
}

/// End (exclusive) of the run of name characters starting at `start`, bounded by `end`.
fn name_end(bytes: &[u8], start: usize, end: usize) -> usize {
    let mut i = start;
    while i < end && bytes.get(i).is_some_and(|&b| is_name_char(b)) {
        i += 1;
    }
    i
}

/// Parse `src[start..end]` into pieces. Offsets stay absolute in `src` for error reporting.
fn parse_seq(
    src: &str,
    start: usize,
    end: usize,
    depth: usize,
) -> Result<Vec<Piece<'_>>, InterpolateError> {
    let mut pieces = Vec::new();
    let mut text_start = start;
    while let Some(rel) = src.get(text_start..end).and_then(|s| s.find('$')) {
        let dollar = text_start + rel;
        push_text(&mut pieces, src.get(text_start..dollar));
        let (piece, next) = parse_dollar(src, dollar, end, depth)?;
        pieces.push(piece);
        text_start = next;
    }
    push_text(&mut pieces, src.get(text_start..end));
    Ok(pieces)
}

fn push_text<'a>(pieces: &mut Vec<Piece<'a>>, text: Option<&'a str>) {
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        pieces.push(Piece::Text(text));
    }
}

/// Parse the reference starting at the `$` at `dollar`; returns it and the offset just past it.
fn parse_dollar(
    src: &str,
    dollar: usize,
    end: usize,
    depth: usize,
) -> Result<(Piece<'_>, usize), InterpolateError> {
    let bytes = src.as_bytes();
    let next = bytes.get(dollar + 1).copied().filter(|_| dollar + 1 < end);
    match next {
        None => Err(syntax(dollar, "`$` at the end of the text")),
        Some(b'$') => Ok((Piece::Text("$"), dollar + 2)),
        Some(b'{') => parse_braced(src, dollar, end, depth),
        Some(b) if is_name_start(b) => {
            let stop = name_end(bytes, dollar + 1, end);
            let name = src.get(dollar + 1..stop).unwrap_or_default();
            let piece = Piece::Var {
                name,
                modifier: None,
            };
            Ok((piece, stop))
        }
        Some(_) => Err(syntax(
            dollar,
            "`$` must be followed by a variable name, `{` or `$`",
        )),
    }
}

/// Parse `${...}` whose `$` is at `dollar`; returns it and the offset just past the `}`.
fn parse_braced(
    src: &str,
    dollar: usize,
    end: usize,
    depth: usize,
) -> Result<(Piece<'_>, usize), InterpolateError> {
    if depth >= MAX_DEPTH {
        return Err(syntax(
            dollar,
            format!("references nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let bytes = src.as_bytes();
    let open = dollar + 2;
    let close = find_closing_brace(bytes, open, end)
        .ok_or_else(|| syntax(dollar, "unterminated `${`: missing `}`"))?;
    let name_stop = name_end(bytes, open, close);
    let name = src.get(open..name_stop).unwrap_or_default();
    if !name.bytes().next().is_some_and(is_name_start) {
        let reason = if close == open {
            "empty variable name in `${}`".to_owned()
        } else {
            let inner = src.get(open..close).unwrap_or_default();
            format!("invalid variable name in `${{{inner}}}`")
        };
        return Err(syntax(dollar, reason));
    }
    let modifier = if name_stop == close {
        None
    } else {
        let (operator, text_start) =
            parse_operator(src, name, name_stop, close).map_err(|reason| syntax(dollar, reason))?;
        Some((operator, parse_seq(src, text_start, close, depth + 1)?))
    };
    Ok((Piece::Var { name, modifier }, close + 1))
}

/// Offset of the `}` closing a `${` whose content starts at `from`: nested `${` open a level,
/// `$$` is skipped as an escape, and the first unbalanced `}` closes.
fn find_closing_brace(bytes: &[u8], from: usize, end: usize) -> Option<usize> {
    let mut level = 1usize;
    let mut i = from;
    while i < end {
        let next = bytes.get(i + 1).copied().filter(|_| i + 1 < end);
        match (bytes.get(i).copied()?, next) {
            (b'$', Some(b'$')) => i += 1,
            (b'$', Some(b'{')) => {
                level += 1;
                i += 1;
            }
            (b'}', _) => {
                level -= 1;
                if level == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Parse the operator right after the name (at `at`); returns it and where its text starts.
fn parse_operator(
    src: &str,
    name: &str,
    at: usize,
    close: usize,
) -> Result<(Operator, usize), String> {
    let bytes = src.as_bytes();
    let empty_is_unset = bytes.get(at) == Some(&b':');
    let op_at = if empty_is_unset { at + 1 } else { at };
    let action = match bytes.get(op_at).copied().filter(|_| op_at < close) {
        Some(b'-') => Action::Default,
        Some(b'?') => Action::Required,
        Some(b'+') => Action::Alternative,
        _ => {
            let shown_end = src
                .get(op_at..close)
                .and_then(|s| s.chars().next())
                .map_or(op_at, |c| op_at + c.len_utf8());
            let found = src.get(at..shown_end).unwrap_or_default();
            return Err(format!(
                "unexpected `{found}` after variable name {name}; \
                 expected `}}` or one of :- - :? ? :+ +"
            ));
        }
    };
    let operator = Operator {
        action,
        empty_is_unset,
    };
    Ok((operator, op_at + 1))
}

/// Evaluates parsed pieces against a lookup, collecting unset variables.
struct Evaluator<'l> {
    lookup: &'l dyn Fn(&str) -> Option<String>,
    unset: Vec<String>,
}

impl Evaluator<'_> {
    fn render(&mut self, pieces: &[Piece<'_>], out: &mut String) -> Result<(), InterpolateError> {
        for piece in pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Var { name, modifier } => self.render_var(name, modifier.as_ref(), out)?,
            }
        }
        Ok(())
    }

    fn render_var(
        &mut self,
        name: &str,
        modifier: Option<&(Operator, Vec<Piece<'_>>)>,
        out: &mut String,
    ) -> Result<(), InterpolateError> {
        let value = (self.lookup)(name);
        let Some((operator, text)) = modifier else {
            match value {
                Some(value) => out.push_str(&value),
                None => self.note_unset(name),
            }
            return Ok(());
        };
        let satisfied = match &value {
            Some(v) => !(operator.empty_is_unset && v.is_empty()),
            None => false,
        };
        match (operator.action, satisfied) {
            (Action::Default | Action::Required, true) => {
                out.push_str(value.as_deref().unwrap_or_default())
            }
            (Action::Default, false) | (Action::Alternative, true) => self.render(text, out)?,
            (Action::Alternative, false) => {}
            (Action::Required, false) => {
                let mut message = String::new();
                self.render(text, &mut message)?;
                return Err(InterpolateError::Required {
                    name: name.to_owned(),
                    message,
                });
            }
        }
        Ok(())
    }

    fn note_unset(&mut self, name: &str) {
        if !self.unset.iter().any(|n| n == name) {
            self.unset.push(name.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".to_owned()),
            "EMPTY" => Some(String::new()),
            "B" => Some("bee".to_owned()),
            "UNI" => Some("ünï".to_owned()),
            _ => None,
        }
    }

    fn run(input: &str) -> Result<Interpolated, InterpolateError> {
        interpolate(input, &env)
    }

    #[test]
    fn values_table() {
        let cases: &[(&str, &str, &[&str])] = &[
            // plain text and escapes
            ("", "", &[]),
            ("no refs here", "no refs here", &[]),
            ("$$", "$", &[]),
            ("$$SET", "$SET", &[]),
            ("a$$$$b", "a$$b", &[]),
            ("$${SET}", "${SET}", &[]),
            ("{}:-?+", "{}:-?+", &[]),
            // bare and braced references
            ("$SET", "value", &[]),
            ("${SET}", "value", &[]),
            ("$SET-x", "value-x", &[]),
            ("$SET.x", "value.x", &[]),
            ("$SETx", "", &["SETx"]),
            ("${EMPTY}", "", &[]),
            ("$UNSET", "", &["UNSET"]),
            ("${UNSET}", "", &["UNSET"]),
            ("$UNSET $OTHER ${UNSET}", "  ", &["UNSET", "OTHER"]),
            ("$_a1", "", &["_a1"]),
            // :- default when unset or empty
            ("${SET:-d}", "value", &[]),
            ("${EMPTY:-d}", "d", &[]),
            ("${UNSET:-d}", "d", &[]),
            ("${UNSET:-}", "", &[]),
            // - default when unset
            ("${SET-d}", "value", &[]),
            ("${EMPTY-d}", "", &[]),
            ("${UNSET-d}", "d", &[]),
            // :? / ? satisfied
            ("${SET:?err}", "value", &[]),
            ("${SET?err}", "value", &[]),
            ("${EMPTY?err}", "", &[]),
            // :+ alternative when set and non-empty
            ("${SET:+alt}", "alt", &[]),
            ("${EMPTY:+alt}", "", &[]),
            ("${UNSET:+alt}", "", &[]),
            // + alternative when set
            ("${SET+alt}", "alt", &[]),
            ("${EMPTY+alt}", "alt", &[]),
            ("${UNSET+alt}", "", &[]),
            // nesting
            ("${UNSET:-${B}}", "bee", &[]),
            ("${UNSET:-${OTHER:-x}}", "x", &[]),
            ("${UNSET:-foo ${B} bar}", "foo bee bar", &[]),
            ("${UNSET:-$B-$$}", "bee-$", &[]),
            ("${UNSET:-${OTHER}}", "", &["OTHER"]),
            ("${SET:-${OTHER}}", "value", &[]),
            ("${SET:+[${B:+${SET}}]}", "[value]", &[]),
            ("${UNSET:-{x}}", "{x}", &[]),
            ("${UNSET:-a}b}", "ab}", &[]),
            ("${UNSET:-$${x}", "${x", &[]),
            ("${UNSET:-a:-b}", "a:-b", &[]),
            // unused branches are not evaluated
            ("${SET:-${X:?boom}}", "value", &[]),
            ("${UNSET:+${X:?boom}}", "", &[]),
            ("${SET:?${X:?boom}}", "value", &[]),
            ("${SET:-$NOPE}", "value", &[]),
            // multibyte text
            ("héllo $SET wörld", "héllo value wörld", &[]),
            ("日本$SET語", "日本value語", &[]),
            ("€${UNI}€", "€ünï€", &[]),
            ("${UNSET:-日本}", "日本", &[]),
            ("$$€", "$€", &[]),
        ];
        for (input, value, unset) in cases {
            let got = run(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(got.value, *value, "value of {input:?}");
            assert_eq!(got.unset, *unset, "unset of {input:?}");
        }
    }

    #[test]
    fn required_table() {
        let cases: &[(&str, &str, &str)] = &[
            ("${UNSET:?need it}", "UNSET", "need it"),
            ("${EMPTY:?need it}", "EMPTY", "need it"),
            ("${UNSET?need it}", "UNSET", "need it"),
            ("${UNSET:?}", "UNSET", ""),
            ("${UNSET?}", "UNSET", ""),
            ("${UNSET:?set ${B} first}", "UNSET", "set bee first"),
            ("ok ${UNSET:-${INNER:?deep}}", "INNER", "deep"),
            ("${SET:+${INNER?alt}}", "INNER", "alt"),
        ];
        for (input, name, message) in cases {
            let expected = InterpolateError::Required {
                name: (*name).to_owned(),
                message: (*message).to_owned(),
            };
            assert_eq!(run(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn syntax_table() {
        let cases: &[(&str, usize)] = &[
            ("$", 0),
            ("abc$", 3),
            ("$1", 0),
            ("a $ b", 2),
            ("$-", 0),
            ("${}", 0),
            ("${", 0),
            ("x${VAR", 1),
            ("${VAR:-x", 0),
            ("${1A}", 0),
            ("${A B}", 0),
            ("${A.B}", 0),
            ("${VAR:x}", 0),
            ("${VAR:}", 0),
            ("${VAR=x}", 0),
            ("${VAR!}", 0),
            ("${VAR:é}", 0),
            ("${ VAR}", 0),
            ("é$", 2),
            ("日本$1", 6),
            ("ok ${SET:-${}}", 10),
            ("${A:-${B:-$}}", 10),
            // syntax is checked even in branches not taken
            ("${SET:-$1}", 7),
            ("$SET ${SET:+x ${Y:-${}}}", 19),
        ];
        for (input, offset) in cases {
            match run(input) {
                Err(InterpolateError::Syntax { offset: got, .. }) => {
                    assert_eq!(got, *offset, "offset for {input:?}");
                }
                other => panic!("{input:?}: expected syntax error, got {other:?}"),
            }
        }
    }

    #[test]
    fn error_messages() {
        let err = run("${A:x}").expect_err("bad operator");
        assert_eq!(
            err.to_string(),
            "invalid interpolation format at byte 0: unexpected `:x` after variable name A; \
             expected `}` or one of :- - :? ? :+ +; escape a literal dollar sign as $$"
        );
        let err = run("${UNSET:?}").expect_err("required");
        assert_eq!(
            err.to_string(),
            "required variable UNSET is missing a value: "
        );
    }

    fn nested(levels: usize) -> String {
        let mut s = "${UNSET:-".repeat(levels.saturating_sub(1));
        s.push_str("${B}");
        s.push_str(&"}".repeat(levels.saturating_sub(1)));
        s
    }

    #[test]
    fn nesting_depth_is_capped() {
        assert_eq!(
            run(&nested(MAX_DEPTH)).map(|i| i.value),
            Ok("bee".to_owned())
        );
        match run(&nested(MAX_DEPTH + 1)) {
            Err(InterpolateError::Syntax { offset, .. }) => assert_eq!(offset, 9 * MAX_DEPTH),
            other => panic!("expected depth error, got {other:?}"),
        }
        let deep = nested(10_000);
        assert!(matches!(run(&deep), Err(InterpolateError::Syntax { .. })));
    }

    #[test]
    fn lookup_sees_each_reference() {
        let calls = std::cell::RefCell::new(Vec::new());
        let lookup = |name: &str| {
            calls.borrow_mut().push(name.to_owned());
            env(name)
        };
        let got = interpolate("$A ${B:-$C} ${SET:-$D}", &lookup).expect("valid");
        assert_eq!(got.value, " bee value");
        assert_eq!(*calls.borrow(), ["A", "B", "SET"]);
    }

    /// Deterministic pseudo-random strings over the interpolation alphabet never panic, and
    /// text without `$` always comes back unchanged.
    #[test]
    fn fuzzish_never_panics() {
        const ALPHABET: &[&str] = &[
            "$", "{", "}", ":", "-", "?", "+", "A", "_", "1", "x", "é", "日",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            usize::try_from(state >> 33).unwrap_or_default()
        };
        for _ in 0..5000 {
            let len = next() % 24;
            let input: String = (0..len)
                .map(|_| ALPHABET[next() % ALPHABET.len()])
                .collect();
            let result = run(&input);
            if !input.contains('$') {
                assert_eq!(result.map(|i| i.value), Ok(input.clone()), "{input:?}");
            } else if let Err(InterpolateError::Syntax { offset, .. }) = result {
                assert_eq!(input.as_bytes().get(offset), Some(&b'$'), "{input:?}");
            }
        }
    }
}
