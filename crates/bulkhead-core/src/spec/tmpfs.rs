//! tmpfs mount options: each one checked where the spec is read (an option the engine would
//! refuse or the kernel would not apply is an error at `check`), written in the one form the
//! engine and the kernel both take (sizes in bytes, modes in octal), and merged with the
//! hardening's `noexec,nosuid,nodev`.

use super::units;

/// Mount flags a tmpfs takes (each with its opposite).
const FLAGS: &[&str] = &[
    "rw",
    "ro",
    "exec",
    "noexec",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "sync",
    "async",
    "dirsync",
];

/// `KEY=VALUE` options of tmpfs that the engine passes on (Docker's own list, less `mpol`).
const DATA: &[&str] = &["size", "mode", "uid", "gid", "nr_inodes", "nr_blocks"];

/// The flags the hardening sets on every tmpfs, with the option that would undo each.
pub const SECURE: [(&str, &str); 3] = [("noexec", "exec"), ("nosuid", "suid"), ("nodev", "dev")];

/// Check `options` (comma-separated, as after `PATH:` in `tmpfs:`) and write each in its
/// normal form, in the order written (for a flag or key given twice the last one counts, as
/// in mount(8)): `size` in bytes, `mode` in octal, `uid`, `gid` and inode/block counts as
/// plain numbers.
pub fn normalize(options: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        out.push(normalize_one(option)?);
    }
    Ok(out)
}

fn normalize_one(option: &str) -> Result<String, String> {
    let Some((key, value)) = option.split_once('=') else {
        if FLAGS.contains(&option) {
            return Ok(option.to_string());
        }
        return Err(unknown(option));
    };
    let value = match key {
        "size" | "nr_inodes" | "nr_blocks" => units::parse_size(value)
            .map_err(|m| format!("`{option}`: {m}"))?
            .to_string(),
        "mode" => format!(
            "{:o}",
            parse_mode(value).map_err(|m| format!("`{option}`: {m}"))?
        ),
        "uid" | "gid" => value
            .parse::<u32>()
            .map_err(|_| format!("`{option}`: `{value}` is not a numeric {key}"))?
            .to_string(),
        _ => return Err(unknown(option)),
    };
    Ok(format!("{key}={value}"))
}

fn unknown(option: &str) -> String {
    format!(
        "unknown tmpfs option `{option}`; use {}=..., or the flags {}",
        DATA.join("=..., "),
        FLAGS.join(", ")
    )
}

/// A tmpfs `mode=`: octal, as mount(8) reads it (`1777`: the sticky bit of /tmp), at most 7777.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o7777 && !digits.is_empty() => Ok(mode),
        _ => Err(format!(
            "`{text}` is not a file mode; write octal digits, at most 7777 (e.g. 1777)"
        )),
    }
}

/// The options a tmpfs is mounted with, in the one order the runtime writes them back: the
/// hardening's `noexec,nosuid,nodev` first, each left out where `options` (normalized) names
/// itself or its opposite; then the other options as written; then `size=` and `mode=` (the
/// last of each, as in mount(8)). So what `check` shows is what the engine is given.
pub fn with_secure_defaults(options: &[String]) -> Vec<String> {
    let named = |flag: &str| options.iter().any(|o| o == flag);
    let last = |key: &str| options.iter().rev().find(|o| o.starts_with(key)).cloned();
    SECURE
        .iter()
        .filter(|(on, off)| !named(on) && !named(off))
        .map(|(on, _)| on.to_string())
        .chain(
            options
                .iter()
                .filter(|o| !o.starts_with("size=") && !o.starts_with("mode="))
                .cloned(),
        )
        .chain(last("size="))
        .chain(last("mode="))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_option_is_checked_and_written_in_its_normal_form() {
        let cases = [
            ("", ""),
            ("size=64m", "size=67108864"),
            ("rw,noexec,size=1m", "rw,noexec,size=1048576"),
            ("mode=1777", "mode=1777"),
            ("mode=0700,mode=0o750", "mode=700,mode=750"),
            (
                "uid=1000,gid=1000,nr_inodes=1k,noatime",
                "uid=1000,gid=1000,nr_inodes=1024,noatime",
            ),
            (" ro , nosuid ,", "ro,nosuid"),
            ("exec,suid,dev", "exec,suid,dev"),
        ];
        for (input, want) in cases {
            assert_eq!(
                normalize(input).map(|o| o.join(",")),
                Ok(want.into()),
                "{input}"
            );
        }
    }

    #[test]
    fn a_bad_option_names_itself_and_what_to_write() {
        let cases = [
            ("size=lots", "`size=lots`: `lots` is not a size"),
            ("size=1q", "unknown size unit `q`"),
            ("mode=9", "`mode=9`: `9` is not a file mode"),
            ("mode=17777", "at most 7777"),
            ("mode=", "not a file mode"),
            ("uid=root", "`uid=root`: `root` is not a numeric uid"),
            ("gid=-1", "not a numeric gid"),
            (
                "noexce",
                "unknown tmpfs option `noexce`; use size=..., mode=...",
            ),
            ("mpol=bind", "unknown tmpfs option `mpol=bind`"),
            ("shared", "unknown tmpfs option `shared`"),
            ("tmpcopyup", "unknown tmpfs option `tmpcopyup`"),
        ];
        for (input, want) in cases {
            let err = normalize(input).expect_err(input);
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    #[test]
    fn the_secure_flags_come_first_unless_the_options_name_them() {
        let opts = |s: &str| normalize(s).expect(s);
        let cases = [
            ("", "noexec,nosuid,nodev"),
            (
                "size=1m,mode=1777",
                "noexec,nosuid,nodev,size=1048576,mode=1777",
            ),
            ("rw,noexec,size=1m", "nosuid,nodev,rw,noexec,size=1048576"),
            ("exec", "nosuid,nodev,exec"),
            ("suid,dev", "noexec,suid,dev"),
            ("rw,noexec,nosuid,nodev", "rw,noexec,nosuid,nodev"),
            (
                "mode=700,size=1m,uid=1,mode=0750,noatime",
                "noexec,nosuid,nodev,uid=1,noatime,size=1048576,mode=750",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                with_secure_defaults(&opts(input)).join(","),
                want,
                "{input}"
            );
        }
    }
}
