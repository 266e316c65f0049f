//! The `healthcheck` key: test forms (`CMD`, `CMD-SHELL`, `NONE`, a plain string), timings and
//! `disable`.

use super::decode::{self, Errors};
use super::error::SpecError;
use super::model::{HealthTest, Healthcheck};
use super::units;
use super::yaml::{Node, Value};

/// Decode a `healthcheck` mapping.
pub fn healthcheck(node: &Node, keys: &[&str], errors: &mut Errors) -> Option<Healthcheck> {
    let entries = errors.take(decode::map(node, "healthcheck"))?;
    decode::check_keys(entries, keys, &[], "healthcheck", errors);
    let mut h = Healthcheck {
        test: None,
        interval: None,
        timeout: None,
        retries: None,
        start_period: None,
        start_interval: None,
    };
    let mut disabled = false;
    for e in entries {
        let v = &e.value;
        let what = format!("healthcheck.{}", e.key);
        let dur =
            |errors: &mut Errors| errors.take(decode::parsed(v, &what, units::parse_duration));
        match e.key.as_str() {
            "test" => h.test = errors.take(test(v)),
            "interval" => h.interval = dur(errors),
            "timeout" => h.timeout = dur(errors),
            "start_period" => h.start_period = dur(errors),
            "start_interval" => h.start_interval = dur(errors),
            "retries" => h.retries = errors.take(decode::integer::<u32>(v, &what)),
            "disable" => disabled = errors.take(decode::boolean(v, &what)).unwrap_or(false),
            _ => {}
        }
    }
    if disabled {
        if matches!(h.test, Some(HealthTest::Cmd(_) | HealthTest::Shell(_))) {
            errors.push(SpecError::value(
                &node.span,
                "healthcheck has both `disable: true` and a `test`; keep one",
            ));
        }
        h.test = Some(HealthTest::Disabled);
    }
    Some(h)
}

fn test(node: &Node) -> Result<HealthTest, SpecError> {
    match &node.value {
        Value::Scalar { text, .. } => Ok(HealthTest::Shell(text.clone())),
        Value::Seq(items) => {
            let words = items
                .iter()
                .map(|i| decode::text(i, "each item of healthcheck.test"))
                .collect::<Result<Vec<_>, _>>()?;
            let bad = |m: &str| SpecError::value(&node.span, format!("healthcheck.test: {m}"));
            match words.split_first() {
                Some((first, rest)) if first == "NONE" => {
                    if rest.is_empty() {
                        Ok(HealthTest::Disabled)
                    } else {
                        Err(bad("NONE takes no arguments"))
                    }
                }
                Some((first, rest)) if first == "CMD" => {
                    if rest.is_empty() {
                        Err(bad("CMD needs a command after it"))
                    } else {
                        Ok(HealthTest::Cmd(rest.to_vec()))
                    }
                }
                Some((first, rest)) if first == "CMD-SHELL" => match rest {
                    [one] => Ok(HealthTest::Shell(one.clone())),
                    _ => Err(bad("CMD-SHELL takes exactly one string")),
                },
                Some((first, _)) => Err(bad(&format!(
                    "the list must start with CMD, CMD-SHELL or NONE, found `{first}`"
                ))),
                None => Err(bad("the list is empty")),
            }
        }
        _ => Err(SpecError::shape(
            &node.span,
            format!(
                "healthcheck.test must be text or a list, found {}",
                node.kind_name()
            ),
        )),
    }
}
