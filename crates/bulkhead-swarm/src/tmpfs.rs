//! A tmpfs as a Swarm service can carry it on Engine API 1.41: its size and mode only
//! (`Mount.TmpfsOptions`), read-only as the mount's own flag; the engine itself mounts every
//! tmpfs of the Mounts API `noexec,nosuid,nodev`.

/// The parts of a template's tmpfs a service spec carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SwarmTmpfs {
    pub size: Option<i64>,
    /// Permission bits (the API takes the number, not its octal text).
    pub mode: Option<i64>,
    pub read_only: bool,
}

/// Options the engine applies to every tmpfs of the Mounts API anyway (and `rw`, its default).
const IMPLIED: &[&str] = &["rw", "noexec", "nosuid", "nodev"];

/// Read a template tmpfs (`size` from the long syntax, `options` as the hardening wrote them:
/// `rw,noexec,nosuid,nodev,size=67108864,mode=1777`). `Err` lists the options API 1.41 cannot
/// carry (`uid=`, `gid=`, `exec`, `nr_inodes=`...), in order.
pub(crate) fn swarm_tmpfs(size: Option<u64>, options: &str) -> Result<SwarmTmpfs, Vec<String>> {
    let mut out = SwarmTmpfs {
        size: size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
        ..SwarmTmpfs::default()
    };
    let mut unsupported = Vec::new();
    for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            None if IMPLIED.contains(&option) => {}
            None if option == "ro" => out.read_only = true,
            Some(("size", bytes)) if out.size.is_none() => match bytes.parse::<i64>() {
                Ok(n) if n > 0 => out.size = Some(n),
                _ => unsupported.push(option.to_string()),
            },
            Some(("size", _)) => {}
            Some(("mode", octal)) => match i64::from_str_radix(octal, 8) {
                Ok(bits) if (0..=0o7777).contains(&bits) => out.mode = Some(bits),
                _ => unsupported.push(option.to_string()),
            },
            _ => unsupported.push(option.to_string()),
        }
    }
    if unsupported.is_empty() {
        Ok(out)
    } else {
        Err(unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_mode_and_read_only_are_carried() {
        let got = swarm_tmpfs(None, "rw,noexec,nosuid,nodev,size=67108864,mode=1777");
        assert_eq!(
            got,
            Ok(SwarmTmpfs {
                size: Some(64 << 20),
                mode: Some(0o1777),
                read_only: false,
            })
        );
        let long = swarm_tmpfs(Some(4096), "ro,noexec,nosuid,nodev,mode=700");
        assert_eq!(
            long,
            Ok(SwarmTmpfs {
                size: Some(4096),
                mode: Some(0o700),
                read_only: true,
            })
        );
    }

    #[test]
    fn options_the_api_cannot_carry_are_named() {
        assert_eq!(
            swarm_tmpfs(None, "rw,exec,nosuid,nodev,uid=1000,size=1k,mode=9"),
            Err(vec![
                "exec".to_string(),
                "uid=1000".to_string(),
                "size=1k".to_string(),
                "mode=9".to_string(),
            ])
        );
    }
}
