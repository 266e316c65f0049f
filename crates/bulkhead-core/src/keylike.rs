//! Files that look like keys or credentials: what an upload leaves behind unless the spec names
//! the file. A fixed list, matched on names (case-insensitively) at any depth; documented in
//! docs/deploy.md ("Uploads").

use crate::ignore::Ignore;

/// The list, in `.dockerignore` syntax (every pattern applies at any depth).
pub const PATTERNS: &[&str] = &[
    // Private keys and key stores.
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.ppk",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    // Whole directories of them.
    ".ssh",
    ".gnupg",
    // Tokens and credentials.
    "token",
    "*.token",
    "*_token",
    "*-token",
    ".netrc",
    "_netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".dockercfg",
    "credentials",
    "kubeconfig",
    "*.kubeconfig",
    // Variables files other than the `.env` Compose reads.
    ".env.*",
];

/// The matcher for [`PATTERNS`].
pub fn matcher() -> Ignore {
    let text: String = PATTERNS.iter().map(|p| format!("**/{p}\n")).collect();
    Ignore::parse(&text)
}

/// Whether `path` (relative, `/`-separated) looks like a key or credential, or lies in a
/// directory that does. `matcher` is [`matcher()`], built once by the caller.
pub fn looks_like_key(matcher: &Ignore, path: &str) -> bool {
    matcher.excludes(&path.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens_at_any_depth_whatever_the_case() {
        let m = matcher();
        for path in [
            "tls.key",
            "certs/server.pem",
            "deploy/ID_RSA",
            "id_ed25519.pub",
            "a/b/c.p12",
            "store.PFX",
            "token",
            "ci/deploy.token",
            "github_token",
            "api-token",
            ".netrc",
            ".git-credentials",
            ".npmrc",
            "prod.kubeconfig",
            "kubeconfig",
            ".env.local",
            "web/.env.production",
            ".ssh/config",
            "home/.gnupg/pubring.kbx",
            "credentials",
        ] {
            assert!(looks_like_key(&m, path), "{path}");
        }
    }

    #[test]
    fn ordinary_files_are_not_keys() {
        let m = matcher();
        for path in [
            "compose.yaml",
            ".env",
            "src/token.rs",
            "src/tokens/mod.rs",
            "keys.md",
            "docs/keyboard.txt",
            "monkey",
            "credentials.md",
            "image/Dockerfile",
            "tokenizer",
        ] {
            assert!(!looks_like_key(&m, path), "{path}");
        }
    }
}
