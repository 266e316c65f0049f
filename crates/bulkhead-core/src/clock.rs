//! Time as Bulkhead writes it: RFC 3339 UTC, from Unix seconds (pure; the caller reads the clock).

/// `2026-11-27T05:52:05Z` for the given seconds since the Unix epoch.
pub fn rfc3339(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `2026-11-27T05:52:05.123Z` for the given milliseconds since the Unix epoch (the audit log's
/// times: fixed width, so they sort as text).
pub fn rfc3339_millis(unix_millis: u64) -> String {
    let secs = rfc3339(unix_millis / 1000);
    let stem = secs.strip_suffix('Z').unwrap_or(&secs);
    format!("{stem}.{:03}Z", unix_millis % 1000)
}

/// Milliseconds since the Unix epoch of an RFC 3339 time, `YYYY-MM-DDTHH:MM:SS[.frac]` followed
/// by `Z` or `+HH:MM`/`-HH:MM` (`t`, `z` and a space for `T` accepted, as RFC 3339 allows).
/// Digits past milliseconds are truncated. `None` for anything else, or for a time before 1970.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    u64::try_from(parse_rfc3339_signed(text)?).ok()
}

/// [`parse_rfc3339`] for any year from 0000 to 9999: negative before 1970.
pub fn parse_rfc3339_signed(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |at: usize, ok: &[u8]| b.get(at).is_some_and(|c| ok.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let month_days = [
        31,
        28 + i64::from(is_leap(year)),
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let max_day = *month_days.get(usize::try_from(month.checked_sub(1)?).ok()?)?;
    if day < 1 || day > max_day || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if sep(at, b".") {
        let digits = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        for i in 0..3 {
            let d = if i < digits {
                num(at + 1 + i..at + 2 + i)?
            } else {
                0
            };
            millis = millis * 10 + d;
        }
        at += 1 + digits;
    }
    let offset_secs = match b.get(at..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), ..] if b.len() == at + 6 && sep(at + 3, b":") => {
            let (oh, om) = (num(at + 1..at + 3)?, num(at + 4..at + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * 1000 + millis)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Howard Hinnant's civil-to-days algorithm, the inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_750_325), "2026-11-27T03:32:05Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn millis_round_trip() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_795_750_325_042),
            "2026-11-27T03:32:05.042Z"
        );
        for ms in [
            0,
            1,
            999,
            951_782_400_000,
            1_795_750_325_042,
            4_107_542_399_999,
        ] {
            assert_eq!(parse_rfc3339(&rfc3339_millis(ms)), Some(ms), "{ms}");
        }
    }

    #[test]
    fn parses_offsets_fractions_and_refuses_the_rest() {
        let base = Some(1_795_750_325_000);
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_rfc3339_signed("1969-12-31T23:59:59Z"), Some(-1000));
        assert_eq!(
            parse_rfc3339_signed("0000-01-01T00:00:00Z"),
            Some(-62_167_219_200_000)
        );
        assert_eq!(parse_rfc3339("2026-11-27T03:32:05Z"), base);
        assert_eq!(parse_rfc3339("2026-11-27t03:32:05z"), base);
        assert_eq!(parse_rfc3339("2026-11-27 03:32:05Z"), base);
        assert_eq!(parse_rfc3339("2026-11-27T04:32:05+01:00"), base);
        assert_eq!(parse_rfc3339("2026-11-27T01:02:05-02:30"), base);
        assert_eq!(
            parse_rfc3339("2026-11-27T03:32:05.1239Z"),
            Some(1_795_750_325_123)
        );
        assert_eq!(
            parse_rfc3339("2026-11-27T03:32:05.5Z"),
            Some(1_795_750_325_500)
        );
        for bad in [
            "",
            "2026-11-27",
            "2026-11-27T03:32:05",
            "2026-11-27T03:32:05.Z",
            "2026-13-27T03:32:05Z",
            "2026-02-29T03:32:05Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T03:32:05+1:00",
            "2026-11-27T03:32:05Zjunk",
            "1969-12-31T23:59:59Z",
            "2026-11-27T03:32:05\u{e9}",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
    }
}
