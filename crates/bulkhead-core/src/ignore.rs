//! `.dockerignore` patterns (Docker's syntax: `*`, `?`, `[...]` classes, `\` escapes, `**`
//! for any number of directories, `!` exceptions) over slash-separated relative paths; the last
//! matching rule wins, and a rule matching a directory covers everything under it. Used for
//! build contexts and for the project a CLI uploads. The patterns may be a tenant's: matching
//! is polynomial whatever they say (no backtracking blow-up).

/// One token of a path segment's pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// `*`: any run of characters within the segment.
    Star,
    /// `?`: any one character.
    Any,
    Literal(char),
    /// `[...]` (`[^...]` negated): inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// One segment of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of segments, none included.
    Deep,
    Glob(Vec<Token>),
}

/// One line of a `.dockerignore`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    exception: bool,
    segments: Vec<Segment>,
}

/// The parsed rules of one (or several, in order) `.dockerignore`-style files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ignore {
    rules: Vec<Rule>,
}

impl Ignore {
    /// Comments (`#`) and blank lines are skipped; patterns are cleaned like paths (leading
    /// `/` and `./`, empty and `.` segments dropped; `**/**` is `**`).
    pub fn parse(text: &str) -> Ignore {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| {
                let (exception, pattern) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, line),
                };
                let mut segments: Vec<Segment> = Vec::new();
                for part in pattern.split('/').filter(|s| !s.is_empty() && *s != ".") {
                    let segment = if part == "**" {
                        Segment::Deep
                    } else {
                        Segment::Glob(tokens(part))
                    };
                    if !(segment == Segment::Deep && segments.last() == Some(&Segment::Deep)) {
                        segments.push(segment);
                    }
                }
                (!segments.is_empty()).then_some(Rule {
                    exception,
                    segments,
                })
            })
            .collect();
        Ignore { rules }
    }

    /// These rules, then `later`'s (which win where both match).
    pub fn then(mut self, later: Ignore) -> Ignore {
        self.rules.extend(later.rules);
        self
    }

    /// Whether there are no rules at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether `path` (relative, `/`-separated) is left out.
    pub fn excludes(&self, path: &str) -> bool {
        let segments: Vec<&str> = path
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        let mut excluded = false;
        for rule in &self.rules {
            if matches_or_parent(&rule.segments, &segments) {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// With exceptions, an excluded directory must still be walked: something under it may be
    /// let back in.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }
}

/// The tokens of one segment's pattern. An unterminated `[` is a literal; a trailing `\` is
/// a literal backslash.
fn tokens(part: &str) -> Vec<Token> {
    let chars: Vec<char> = part.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                if out.last() != Some(&Token::Star) {
                    out.push(Token::Star);
                }
                i += 1;
            }
            '?' => {
                out.push(Token::Any);
                i += 1;
            }
            '\\' if i + 1 < chars.len() => {
                out.push(Token::Literal(chars[i + 1]));
                i += 2;
            }
            '[' => match class(&chars[i + 1..]) {
                Some((token, used)) => {
                    out.push(token);
                    i += 1 + used;
                }
                None => {
                    out.push(Token::Literal('['));
                    i += 1;
                }
            },
            c => {
                out.push(Token::Literal(c));
                i += 1;
            }
        }
    }
    out
}

/// A class after its `[`: the token and how many characters it took (`]` included), or
/// `None` when it is not closed.
fn class(chars: &[char]) -> Option<(Token, usize)> {
    let mut i = 0;
    let negated = chars.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && !first {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        first = false;
        let (lo, next) = literal_at(chars, i)?;
        i = next;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
            let (hi, next) = literal_at(chars, i + 1)?;
            ranges.push((lo, hi));
            i = next;
        } else {
            ranges.push((lo, lo));
        }
    }
}

/// The character at `i` (an escaped one after `\`) and the index after it.
fn literal_at(chars: &[char], i: usize) -> Option<(char, usize)> {
    match chars.get(i)? {
        '\\' => chars.get(i + 1).map(|c| (*c, i + 2)),
        c => Some((*c, i + 1)),
    }
}

impl Token {
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Star => true,
            Token::Any => true,
            Token::Literal(l) => *l == c,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }
}

/// One segment against one name: iterative, backtracking only to the last `*` (linear in
/// practice, quadratic at worst).
fn glob(pattern: &[Token], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Token::Star) => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some(token) if token.accepts(text[t]) => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((after, from)) => {
                p = after;
                t = from + 1;
                star = Some((after, from + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|token| *token == Token::Star)
}

/// Whether the pattern matches `path` or one of its parents: a table over (pattern suffix,
/// path suffix), so `**` costs no more than the product of the two lengths.
fn matches_or_parent(pattern: &[Segment], path: &[&str]) -> bool {
    for len in 1..=path.len() {
        if matches(pattern, &path[..len]) {
            return true;
        }
    }
    false
}

fn matches(pattern: &[Segment], path: &[&str]) -> bool {
    let (np, nt) = (pattern.len(), path.len());
    // done[i][j]: pattern[i..] matches path[j..].
    let mut done = vec![vec![false; nt + 1]; np + 1];
    done[np][nt] = true;
    for i in (0..np).rev() {
        for j in (0..=nt).rev() {
            done[i][j] = match &pattern[i] {
                Segment::Deep => done[i + 1][j] || (j < nt && done[i][j + 1]),
                Segment::Glob(tokens) => j < nt && glob(tokens, path[j]) && done[i + 1][j + 1],
            };
        }
    }
    done[0][0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_patterns() {
        let ignore = Ignore::parse("# comment\n\n*.log\n/target\nsecret?.txt\n");
        assert!(ignore.excludes("app.log"));
        assert!(!ignore.excludes("logs/app.log"));
        assert!(ignore.excludes("target"));
        assert!(ignore.excludes("target/debug/x"));
        assert!(ignore.excludes("secret1.txt"));
        assert!(!ignore.excludes("secret12.txt"));
        assert!(!ignore.excludes("src/main.rs"));
        assert!(!ignore.has_exceptions());
    }

    #[test]
    fn double_star_and_exceptions() {
        let ignore = Ignore::parse("**/*.tmp\ndocs\n!docs/keep.md\n");
        assert!(ignore.excludes("a.tmp"));
        assert!(ignore.excludes("a/b/c.tmp"));
        assert!(ignore.excludes("docs/other.md"));
        assert!(!ignore.excludes("docs/keep.md"));
        assert!(ignore.has_exceptions());
        let ignore = Ignore::parse("a/**/b\n");
        assert!(ignore.excludes("a/b"));
        assert!(ignore.excludes("a/x/y/b"));
        assert!(ignore.excludes("a/x/b/c"), "under a matched directory");
        assert!(!ignore.excludes("x/a/b"));
    }

    #[test]
    fn last_rule_wins() {
        let ignore = Ignore::parse("!x\nx\n");
        assert!(ignore.excludes("x"));
        let ignore = Ignore::parse("*\n!Dockerfile\n");
        assert!(!ignore.excludes("Dockerfile"));
        assert!(ignore.excludes("src"));
        let later = Ignore::parse("!keep.log\n");
        let both = Ignore::parse("*.log\n").then(later);
        assert!(both.excludes("a.log"));
        assert!(!both.excludes("keep.log"));
    }

    #[test]
    fn classes_and_escapes_as_docker_reads_them() {
        let ignore = Ignore::parse("file[0-9].txt\nx[^a-c]\n\\*star\nlit[\n[]]z\n");
        assert!(ignore.excludes("file7.txt"));
        assert!(!ignore.excludes("filea.txt"));
        assert!(ignore.excludes("xd"));
        assert!(!ignore.excludes("xb"));
        assert!(ignore.excludes("*star"));
        assert!(!ignore.excludes("astar"));
        assert!(ignore.excludes("lit["), "an unclosed class is literal");
        assert!(ignore.excludes("]z"));
    }

    #[test]
    fn stars_match_within_a_segment_and_characters_not_bytes() {
        let ignore = Ignore::parse("*a*b*c\n?é\n");
        assert!(ignore.excludes("xaybzc"));
        assert!(ignore.excludes("abc"));
        assert!(!ignore.excludes("a/bc"));
        assert!(!ignore.excludes("acb"));
        assert!(ignore.excludes("xé"));
    }

    #[test]
    fn hostile_patterns_stay_cheap() {
        let stars = format!("{}b\n{}\n", "*a".repeat(40), "**/a/".repeat(40) + "z");
        let ignore = Ignore::parse(&stars);
        let long = "a".repeat(4000);
        assert!(!ignore.excludes(&long));
        let deep = vec!["a"; 60].join("/");
        assert!(!ignore.excludes(&deep));
    }
}
