//! Who a service's containers run as, decided at deploy by the image's own user database: the
//! spec's `user:` (else the image's USER) resolved to uid:gid through the image's /etc/passwd
//! and /etc/group, refused when it is uid 0 or carries gid 0 unless a `non-root` waiver covers
//! it, and pinned as numbers so that what was checked is what the engine runs.

use bulkhead_core::hardening::Rule;
use bulkhead_core::hardening::userdb::{Identity, UserDb};
use bulkhead_core::verdict::ServiceVerdict;
use bulkhead_ports::{ContainerRuntime, ImageInfo};

use super::DeployError;

const HINT_ROOT: &str = "run as the image's own non-root account that owns its data: `bulkhead check --fix` proposes it (as `user: \"<uid>:<gid>\"` in compose.bulkhead.yaml); or ask an admin for a waiver: x-bulkhead: { waivers: [{ rule: non-root, reason: \"<why>\" }] }";
const HINT_UNKNOWN: &str = "name a user the image defines (`bulkhead check` lists the one that owns its data), or give numbers: `user: \"<uid>:<gid>\"`";

/// Where the user string came from, as the refusal names it.
fn key(spec_user: Option<&str>) -> &'static str {
    if spec_user.is_some() {
        "`user`"
    } else {
        "the image's USER"
    }
}

/// Resolve and judge the effective user of `sv` in `image`. The database is read only when a
/// name or a missing group has to be looked up: `uid:gid` in numbers needs none.
pub(super) async fn resolve<R: ContainerRuntime>(
    runtime: &R,
    sv: &ServiceVerdict,
    image: &ImageInfo,
) -> Result<Identity, DeployError> {
    let spec_user = sv.effective.user.as_deref();
    let user = spec_user.unwrap_or(&image.user);
    let db = if needs_database(user) {
        UserDb::parse(&runtime.image_user_files(&image.id).await?)
    } else {
        UserDb::empty()
    };
    let identity = db.resolve(user).map_err(|e| DeployError::Policy {
        service: sv.name.clone(),
        reason: format!(
            "rule non-root: {} is {}, but {e}",
            key(spec_user),
            shown(user)
        ),
        hint: HINT_UNKNOWN.to_string(),
    })?;
    judge(sv, spec_user, user, &identity)?;
    Ok(identity)
}

/// The user a hook (`what`: `post_start[0]`) runs as, pinned as `uid:gid`: its own `user`
/// resolved through the image's user database and judged like the service's (uid 0 or gid 0
/// refused unless the service has a `non-root` waiver, `waived`), else the service's own,
/// `own`.
pub(super) async fn hook_user<R: ContainerRuntime>(
    runtime: &R,
    (service, waived): (&str, bool),
    image: &str,
    own: &Identity,
    user: Option<&str>,
    what: &str,
) -> Result<String, DeployError> {
    let Some(user) = user else {
        return Ok(own.pinned());
    };
    let db = if needs_database(user) {
        UserDb::parse(&runtime.image_user_files(image).await?)
    } else {
        UserDb::empty()
    };
    let id = db.resolve(user).map_err(|e| DeployError::Policy {
        service: service.to_string(),
        reason: format!("rule non-root: {what}.user is `{user}`, but {e}"),
        hint: HINT_UNKNOWN.to_string(),
    })?;
    if !waived && (id.is_root() || id.has_root_group()) {
        return Err(DeployError::Policy {
            service: service.to_string(),
            reason: format!(
                "rule non-root: {what}.user is `{user}`, which is uid {} gid {}{}: a hook runs as root no more than the service does",
                id.uid,
                id.gid,
                if id.groups.contains(&0) { " (a member of the root group)" } else { "" }
            ),
            hint: "leave `user` out (the hook runs as the service's own user), or name a non-root account of the image".into(),
        });
    }
    Ok(id.pinned())
}

fn shown(user: &str) -> String {
    if user.is_empty() {
        "root (no USER)".to_string()
    } else {
        format!("`{user}`")
    }
}

/// Only `uid:gid` written in digits resolves without the image's files.
fn needs_database(user: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    !matches!(user.split_once(':'), Some((u, g)) if digits(u) && digits(g))
}

/// uid 0, or gid 0 as the primary or a supplementary group, is refused without a waiver.
fn judge(
    sv: &ServiceVerdict,
    spec_user: Option<&str>,
    user: &str,
    id: &Identity,
) -> Result<(), DeployError> {
    let waived = sv.waivers.iter().any(|w| w.rule == Rule::NonRoot);
    if waived || (!id.is_root() && !id.has_root_group()) {
        return Ok(());
    }
    let what = if id.is_root() {
        format!("uid {}", id.uid)
    } else if id.gid == 0 {
        format!("uid {} with the root group (gid 0)", id.uid)
    } else {
        format!(
            "uid {}, a member of the root group (gid 0) in the image's /etc/group",
            id.uid
        )
    };
    let explicit_group = user.split_once(':').is_some_and(|(_, g)| !g.is_empty());
    let source = if id.name.is_some() {
        " in the image's /etc/passwd"
    } else if id.gid == 0 && !id.is_root() && !explicit_group {
        " (the uid has no entry in the image's /etc/passwd, so the engine gives it gid 0)"
    } else {
        ""
    };
    Err(DeployError::Policy {
        service: sv.name.clone(),
        reason: format!(
            "rule non-root: {} is {}, which is {what}{source}",
            key(spec_user),
            shown(user)
        ),
        hint: HINT_ROOT.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hook_runs_as_the_services_user_or_a_non_root_one_of_its_own() {
        let fake = super::super::fake_runtime::FakeRuntime::default();
        let own = UserDb::empty().resolve("10001:10001").expect("numeric");
        let run = |user: Option<&'static str>, waived: bool| {
            let (fake, own) = (&fake, &own);
            async move {
                hook_user(
                    fake,
                    ("web", waived),
                    "sha256:x",
                    own,
                    user,
                    "post_start[0]",
                )
                .await
            }
        };
        assert_eq!(run(None, false).await.expect("own"), "10001:10001");
        assert_eq!(
            run(Some("20002:20002"), false).await.expect("its own"),
            "20002:20002"
        );
        for root in ["0:0", "0:10001", "10001:0"] {
            let err = run(Some(root), false).await.expect_err(root).to_string();
            assert!(
                err.contains("post_start[0].user") && err.contains("non-root"),
                "{err}"
            );
        }
        assert_eq!(run(Some("0:0"), true).await.expect("waived"), "0:0");
    }

    #[test]
    fn only_numeric_uid_and_gid_skip_the_database() {
        for user in ["10001:10001", "0:0", "1:2"] {
            assert!(!needs_database(user), "{user}");
        }
        for user in [
            "",
            "10001",
            "app",
            "app:app",
            "10001:app",
            ":10001",
            "10001:",
            "+1:2",
        ] {
            assert!(needs_database(user), "{user}");
        }
    }
}
