//! `security_opt` values as the Docker Engine reads them: a bare `no-new-privileges` or
//! `disable`, else `KEY=VALUE` (or the deprecated `KEY:VALUE`), split at the first `=` when
//! there is one, else at the first `:`. Keys are case-sensitive, as in the engine.

use super::decode::Errors;
use super::error::SpecError;
use super::model::At;

/// One option, classified. Values borrow from the option text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityOpt<'a> {
    /// `no-new-privileges` (bare: true) or `no-new-privileges=BOOL`.
    NoNewPrivileges(bool),
    /// `seccomp=unconfined` or `seccomp=PROFILE`.
    Seccomp(&'a str),
    /// `apparmor=unconfined` or `apparmor=PROFILE`.
    Apparmor(&'a str),
    /// `label=...`; the bare `disable` is `label=disable`.
    Label(&'a str),
    /// `systempaths=unconfined`.
    SystemPaths(&'a str),
    /// Anything else: the engine refuses it.
    Unknown,
}

/// Go's `strconv.ParseBool`, which the engine applies to `no-new-privileges=`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

pub fn classify(opt: &str) -> SecurityOpt<'_> {
    match opt {
        "no-new-privileges" => return SecurityOpt::NoNewPrivileges(true),
        "disable" => return SecurityOpt::Label("disable"),
        _ => {}
    }
    let split = if opt.contains('=') {
        opt.split_once('=')
    } else {
        opt.split_once(':')
    };
    match split {
        Some(("no-new-privileges", v)) => {
            parse_bool(v).map_or(SecurityOpt::Unknown, SecurityOpt::NoNewPrivileges)
        }
        Some(("seccomp", v)) => SecurityOpt::Seccomp(v),
        Some(("apparmor", v)) => SecurityOpt::Apparmor(v),
        Some(("label", v)) => SecurityOpt::Label(v),
        Some(("systempaths", v)) => SecurityOpt::SystemPaths(v),
        _ => SecurityOpt::Unknown,
    }
}

/// Keep the options the engine knows; an unknown one is an error at its place in the spec
/// (whether a known one is allowed is the hardening profile's decision).
pub fn check(opts: Vec<At<String>>, errors: &mut Errors) -> Vec<At<String>> {
    opts.into_iter()
        .filter(|o| {
            let known = classify(&o.value) != SecurityOpt::Unknown;
            if !known {
                errors.push(
                    SpecError::value(
                        &o.span,
                        format!("security_opt `{}` is not an option Docker knows", o.value),
                    )
                    .with_hint(
                        "Docker knows no-new-privileges[=BOOL], seccomp=..., apparmor=..., label=... and systempaths=...; Bulkhead allows only no-new-privileges:true without a waiver",
                    ),
                );
            }
            known
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_as_the_engine_splits_them() {
        use SecurityOpt::*;
        let cases = [
            ("no-new-privileges", NoNewPrivileges(true)),
            ("no-new-privileges:true", NoNewPrivileges(true)),
            ("no-new-privileges=1", NoNewPrivileges(true)),
            ("no-new-privileges=false", NoNewPrivileges(false)),
            ("no-new-privileges:False", NoNewPrivileges(false)),
            ("no-new-privileges=0", NoNewPrivileges(false)),
            ("no-new-privileges=maybe", Unknown),
            ("seccomp=unconfined", Seccomp("unconfined")),
            ("seccomp:unconfined", Seccomp("unconfined")),
            ("seccomp=/path.json", Seccomp("/path.json")),
            ("apparmor=unconfined", Apparmor("unconfined")),
            ("apparmor:myprofile", Apparmor("myprofile")),
            ("label=disable", Label("disable")),
            ("label:disable", Label("disable")),
            ("disable", Label("disable")),
            ("label=type:spc_t", Label("type:spc_t")),
            ("label:type:spc_t", Label("type:spc_t")),
            ("label=user:system_u", Label("user:system_u")),
            ("label=level:s0:c100,c200", Label("level:s0:c100,c200")),
            ("systempaths=unconfined", SystemPaths("unconfined")),
            ("SECCOMP=unconfined", Unknown),
            (" seccomp=unconfined", Unknown),
            ("seccomp:/x:y=z", Unknown),
            ("privileged", Unknown),
            ("", Unknown),
        ];
        for (opt, want) in cases {
            assert_eq!(classify(opt), want, "{opt:?}");
        }
    }
}
