//! The name rules: a table of names each kind accepts and refuses, and each rule's pattern held
//! to its check (the OpenAPI document states the pattern; the check is what runs).

use proptest::prelude::*;

use super::*;

/// `(rule, name, accepted)`.
const TABLE: &[(&NameRule, &str, bool)] = &[
    (&PROJECT, "shop", true),
    (&PROJECT, "0", true),
    (&PROJECT, "my_shop-2", true),
    (&PROJECT, "Shop", false),
    (&PROJECT, "", false),
    (&PROJECT, "-shop", false),
    (&PROJECT, "_shop", false),
    (&PROJECT, "sh.op", false),
    (&PROJECT, "sh op", false),
    (&SERVICE, "web", true),
    (&SERVICE, "Web", true),
    (&SERVICE, "WEB_2.a-b", true),
    (&SERVICE, "1a", true),
    (&SERVICE, "1.", true),
    (&SERVICE, "a", true),
    (&SERVICE, "123", false),
    (&SERVICE, "", false),
    (&SERVICE, "-web", false),
    (&SERVICE, ".web", false),
    (&SERVICE, "_web", false),
    (&SERVICE, "we b", false),
    (&SERVICE, "we/b", false),
    (&SERVICE, "wéb", false),
    (&SECRET, "db", true),
    (&SECRET, "DB_PASSWORD", true),
    (&SECRET, "tls.key", true),
    (&SECRET, "a.", true),
    (&SECRET, "9-lives", true),
    (&SECRET, "a..b", false),
    (&SECRET, "..", false),
    (&SECRET, ".env", false),
    (&SECRET, "a/b", false),
    (&SECRET, "a\0b", false),
    (&SECRET, "", false),
    (&USER, "alice", true),
    (&USER, "ci.deploy-bot_2", true),
    (&USER, "0", true),
    (&USER, "Alice", false),
    (&USER, "local", false),
    (&USER, "system", false),
    (&USER, ".x", false),
    (&USER, "al ice", false),
    (&USER, "", false),
    (&TOKEN_NAME, "laptop", true),
    (&TOKEN_NAME, "ci deploys (prod)", true),
    (&TOKEN_NAME, " x ", true),
    (&TOKEN_NAME, "é", true),
    (&TOKEN_NAME, "", false),
    (&TOKEN_NAME, "   ", false),
    (&TOKEN_NAME, "\u{3000}", false),
    (&TOKEN_NAME, "a\nb", false),
    (&TOKEN_NAME, "a\u{85}b", false),
    (&TOKEN_NAME, "a\u{7f}", false),
    (&TOKEN_ID, "0123456789abcdef", true),
    (&TOKEN_ID, "0123456789ABCDEF", false),
    (&TOKEN_ID, "0123456789abcde", false),
];

fn pattern_accepts(rule: &NameRule, name: &str) -> bool {
    let re =
        regex::Regex::new(rule.pattern).unwrap_or_else(|e| panic!("{} pattern: {e}", rule.kind));
    re.is_match(name) && name.chars().count() <= rule.max_len && !rule.reserved.contains(&name)
}

#[test]
fn the_table_of_names_holds_for_check_and_pattern() {
    for (rule, name, accepted) in TABLE {
        assert_eq!(
            rule.check(name).is_ok(),
            *accepted,
            "{} {name:?}",
            rule.kind
        );
        assert_eq!(
            pattern_accepts(rule, name),
            *accepted,
            "{} pattern on {name:?}",
            rule.kind
        );
    }
}

#[test]
fn every_rule_is_anchored_and_bounded() {
    for rule in ALL {
        assert!(rule.pattern.starts_with('^') && rule.pattern.ends_with('$'));
        assert!(rule.max_len > 0);
        let long = "a".repeat(rule.max_len + 1);
        assert!(rule.check(&long).is_err(), "{}", rule.kind);
    }
}

#[test]
fn lengths_are_counted_in_characters() {
    assert!(TOKEN_NAME.check(&"é".repeat(64)).is_ok());
    assert!(TOKEN_NAME.check(&"é".repeat(65)).is_err());
    assert!(SERVICE.check(&"a".repeat(63)).is_ok());
    assert!(SERVICE.check(&"a".repeat(64)).is_err());
}

#[test]
fn a_refusal_names_the_kind_and_escapes_the_name() {
    let err = ServiceName::new("we\u{1b}b").err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "service name `we\\u{1b}b` is not valid: use letters, digits, `_`, `.` and `-`, starting with a letter or digit, at most 63 characters"
        )
    );
}

#[test]
fn service_names_keep_their_case_and_deserialize_through_the_rule() {
    let web: Result<ServiceName, _> = serde_json::from_str("\"Web\"");
    assert_eq!(web.ok().map(String::from).as_deref(), Some("Web"));
    assert!(serde_json::from_str::<ServiceName>("\"123\"").is_err());
    assert_eq!(ServiceName::engine_part("Web"), "web");
}

/// Characters that matter to the rules, and some that do not.
fn name_chars() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::char::range('a', 'z'),
        prop::char::range('A', 'Z'),
        prop::char::range('0', '9'),
        prop::sample::select(vec![
            '.', '_', '-', ' ', '/', '\0', '\n', '\t', '\u{7f}', '\u{85}', '\u{a0}', '\u{3000}',
            '\u{2028}', 'é', '(', '@', ':'
        ]),
        any::<char>(),
    ]
}

proptest! {
    #[test]
    fn each_pattern_says_what_its_check_does(
        name in prop::collection::vec(name_chars(), 0..70).prop_map(|v| v.into_iter().collect::<String>())
    ) {
        for rule in ALL {
            prop_assert_eq!(
                rule.check(&name).is_ok(),
                pattern_accepts(rule, &name),
                "{} {:?}", rule.kind, name
            );
        }
    }
}
