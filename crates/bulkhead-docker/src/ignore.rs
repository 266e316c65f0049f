//! `.dockerignore` rules: `*`, `?`, `**` and `!` exceptions over slash-separated paths; the
//! last matching rule wins, and a rule matching a directory covers everything under it.

/// One line of a `.dockerignore`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    exception: bool,
    segments: Vec<String>,
}

/// The parsed rules of one `.dockerignore`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ignore {
    rules: Vec<Rule>,
}

impl Ignore {
    /// Comments (`#`) and blank lines are skipped; patterns are cleaned like paths (leading
    /// `/` and `./`, empty and `.` segments dropped).
    pub(crate) fn parse(text: &str) -> Ignore {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| {
                let (exception, pattern) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, line),
                };
                let segments: Vec<String> = pattern
                    .split('/')
                    .filter(|s| !s.is_empty() && *s != ".")
                    .map(String::from)
                    .collect();
                (!segments.is_empty()).then_some(Rule {
                    exception,
                    segments,
                })
            })
            .collect();
        Ignore { rules }
    }

    /// Whether `path` (relative, `/`-separated) stays out of the context.
    pub(crate) fn excludes(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut excluded = false;
        for rule in &self.rules {
            let hit = (1..=segments.len()).any(|len| matches(&rule.segments, &segments[..len]));
            if hit {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// With exceptions, an excluded directory must still be walked: something under it may be
    /// let back in.
    pub(crate) fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }
}

/// Whole-path match, `**` standing for any number of segments (none included).
fn matches(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| matches(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((segment, tail)) => {
                glob(first.as_bytes(), segment.as_bytes()) && matches(rest, tail)
            }
            None => false,
        },
    }
}

/// One segment: `*` any run of characters, `?` any one, everything else literally.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
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
    }

    #[test]
    fn last_rule_wins() {
        let ignore = Ignore::parse("!x\nx\n");
        assert!(ignore.excludes("x"));
        let ignore = Ignore::parse("*\n!Dockerfile\n");
        assert!(!ignore.excludes("Dockerfile"));
        assert!(ignore.excludes("src"));
    }
}
