//! Compose's value syntaxes: byte sizes ("1.5G"), Go durations ("1m30s"), CPU counts, file
//! modes (octal as in Compose) and shell-style word splitting of string commands.

use std::time::Duration;

/// Parse a byte size as Compose does (binary multiples): `512m`, `1.5G`, `1gb`, `2048`, `100k`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    if number.is_empty() || number.starts_with('.') && number.len() == 1 {
        return Err(format!(
            "`{text}` is not a size; write e.g. 512m, 1.5g or 2048 (bytes)"
        ));
    }
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        "p" | "pb" | "pib" => 1 << 50,
        other => {
            return Err(format!(
                "`{text}` has an unknown size unit `{other}`; use b, k, m, g, t or p"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. 512m, 1.5g or 2048 (bytes)"))?;
    let bytes = value * factor as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("`{text}` is too large"));
    }
    Ok(bytes.round() as u64)
}

/// Parse a Go duration (`1m30s`, `500ms`, `1.5h`, `10us`); a bare number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || format!("`{text}` is not a duration; write e.g. 30s, 1m30s or 500ms");
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(n);
        let value: f64 = number.parse().map_err(|_| bad())?;
        let u = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(u);
        let nanos = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * nanos;
        rest = next;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(format!("`{text}` is too long a duration"));
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Format a duration the way Go prints it, for plans and JSON (`1m30s`, `500ms`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 && nanos.is_multiple_of(1_000_000) {
        return format!("{}ms", nanos / 1_000_000);
    }
    if nanos < 1_000_000_000 {
        return format!("{}us", nanos / 1_000);
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let millis = d.subsec_millis();
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 || h > 0 {
        out.push_str(&format!("{m}m"));
    }
    if millis > 0 {
        out.push_str(&format!("{s}.{millis:03}s"));
    } else {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Parse a CPU count (`0.5`, `2`); at least 0.01, at most 1024.
pub fn parse_cpus(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a CPU count; write e.g. 0.5 or 2"))?;
    if !value.is_finite() || !(0.0..=1024.0).contains(&value) {
        return Err(format!("`{text}` is out of range for cpus (0 to 1024)"));
    }
    Ok(value)
}

/// Parse a file mode as Compose does: a quoted string is octal, a plain number is octal when it
/// starts with `0` or `0o` (YAML 1.1 style, `0440`) and decimal otherwise. Must be at most 0o777.
pub fn parse_mode(text: &str, quoted: bool) -> Result<u32, String> {
    let t = text.trim();
    let parsed = if let Some(oct) = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")) {
        u32::from_str_radix(oct, 8)
    } else if quoted || (t.len() > 1 && t.starts_with('0')) {
        u32::from_str_radix(t, 8)
    } else {
        t.parse::<u32>()
    };
    let mode = parsed.map_err(|_| format!("`{text}` is not a file mode; write e.g. 0440"))?;
    if mode > 0o777 {
        return Err(format!("mode `{text}` is more than 0777"));
    }
    Ok(mode)
}

/// Split a command string into words like a POSIX shell would (quotes and backslashes), without
/// expanding anything: this is how Compose turns `command: echo "a b"` into `["echo", "a b"]`.
pub fn shell_split(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => word.push(x),
                        None => return Err(format!("unterminated single quote in `{text}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => word.push(x),
                            Some('\n') => {}
                            Some(x) => {
                                word.push('\\');
                                word.push(x);
                            }
                            None => return Err(format!("unterminated double quote in `{text}`")),
                        },
                        Some(x) => word.push(x),
                        None => return Err(format!("unterminated double quote in `{text}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(x) => word.push(x),
                    None => word.push('\\'),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let ok = [
            ("2048", 2048),
            ("100k", 100 << 10),
            ("512m", 512 << 20),
            ("512MB", 512 << 20),
            ("1.5G", 3 << 29),
            ("1gb", 1 << 30),
            ("2 g", 2 << 30),
            ("1t", 1 << 40),
        ];
        for (input, want) in ok {
            assert_eq!(parse_size(input), Ok(want), "{input}");
        }
        for bad in ["", "12ZB", "m", "1.2.3m", "-5m", "99999999999999p"] {
            assert!(parse_size(bad).is_err(), "{bad} should fail");
        }
        assert!(
            parse_size("12ZB")
                .expect_err("unit")
                .contains("unknown size unit `zb`")
        );
    }

    #[test]
    fn durations() {
        let ok = [
            ("30s", 30_000),
            ("1m30s", 90_000),
            ("500ms", 500),
            ("1.5h", 5_400_000),
            ("10", 10_000),
            ("1h2m3s", 3_723_000),
        ];
        for (input, want) in ok {
            assert_eq!(
                parse_duration(input).map(|d| d.as_millis()),
                Ok(want),
                "{input}"
            );
        }
        for bad in ["", "s", "1x", "1m30", "-1s", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn duration_formatting_round_trips() {
        for text in ["0s", "500ms", "30s", "1m30s", "1h0m5s", "1.500s"] {
            let d = parse_duration(text).expect(text);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{text}");
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn modes_follow_compose() {
        assert_eq!(parse_mode("0440", false), Ok(0o440));
        assert_eq!(parse_mode("0o440", false), Ok(0o440));
        assert_eq!(parse_mode("440", true), Ok(0o440));
        assert_eq!(parse_mode("288", false), Ok(288));
        assert!(parse_mode("0999", false).is_err());
        assert!(parse_mode("01777", false).is_err());
    }

    #[test]
    fn shell_words() {
        let cases: [(&str, &[&str]); 6] = [
            ("echo hi", &["echo", "hi"]),
            ("sh -c 'a b' \"c d\"", &["sh", "-c", "a b", "c d"]),
            ("  spaced   out ", &["spaced", "out"]),
            (r#"a\ b "q\"x""#, &["a b", "q\"x"]),
            ("''", &[""]),
            ("", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(
                shell_split(input),
                Ok(want.iter().map(|s| s.to_string()).collect())
            );
        }
        assert!(shell_split("echo 'open").is_err());
    }
}
