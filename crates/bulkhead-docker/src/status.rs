//! The engine's one-line container status of a list answer ("Up 5 seconds (healthy)",
//! "Exited (1) 3 seconds ago") read back: health, exit code, and how long it has run as a
//! lower bound of Docker's human duration (go-units `HumanDuration`).

use std::time::Duration;

use bulkhead_ports::HealthState;

/// What a status line tells beyond the state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Status {
    pub health: HealthState,
    /// The exit code of an exited container.
    pub exit_code: Option<i64>,
    /// How long a running container has run at least (its status is rounded).
    pub running_for: Option<Duration>,
}

impl Default for Status {
    fn default() -> Status {
        Status {
            health: HealthState::None,
            exit_code: None,
            running_for: None,
        }
    }
}

/// Read `Up <duration>[ (healthy|unhealthy|health: starting|Paused)]`, `Exited (<code>)
/// <duration> ago`, and anything else (`Created`, `Restarting (1) ...`, `Dead`, `Removal In
/// Progress`) as telling nothing more. Text that does not parse tells nothing, never an error.
pub(crate) fn parse(text: &str) -> Status {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("Up ") {
        let (duration, suffix) = match rest.rsplit_once(" (") {
            Some((d, s)) if s.ends_with(')') => (d, Some(&s[..s.len() - 1])),
            _ => (rest, None),
        };
        let health = match suffix {
            Some("healthy") => HealthState::Healthy,
            Some("unhealthy") => HealthState::Unhealthy,
            Some("health: starting") => HealthState::Starting,
            _ => HealthState::None,
        };
        return Status {
            health,
            exit_code: None,
            running_for: at_least(duration),
        };
    }
    if let Some(rest) = text.strip_prefix("Exited (") {
        let code = rest.split_once(')').and_then(|(c, _)| c.parse().ok());
        return Status {
            exit_code: code,
            ..Status::default()
        };
    }
    Status::default()
}

/// The shortest duration go-units' `HumanDuration` writes as `text`:
///
/// | text | written for |
/// |---|---|
/// | Less than a second | < 1 s |
/// | 1 second, N seconds | N whole seconds |
/// | About a minute, N minutes | N whole minutes (N = 1: about) |
/// | About an hour, N hours | N hours rounded to the nearest (1 h, since 60 min are) |
/// | N days, N weeks, N months | rounded hours / 24 (/ 7, / 30), integer division |
/// | N years | whole hours / 24 / 365 |
pub(crate) fn at_least(text: &str) -> Option<Duration> {
    const HOUR: u64 = 3600;
    // A rounded count of hours h was written for at least h - 0.5 hours.
    let rounded_hours = |h: Option<u64>| {
        Some(Duration::from_secs(
            h?.checked_mul(HOUR)?.saturating_sub(HOUR / 2),
        ))
    };
    match text {
        "Less than a second" => return Some(Duration::ZERO),
        "About a minute" => return Some(Duration::from_secs(60)),
        "About an hour" => return Some(Duration::from_secs(HOUR)),
        _ => {}
    }
    let (n, unit) = text.split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    match unit {
        "second" | "seconds" => Some(Duration::from_secs(n)),
        "minutes" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "hours" => rounded_hours(Some(n)),
        "days" => rounded_hours(n.checked_mul(24)),
        "weeks" => rounded_hours(n.checked_mul(24 * 7)),
        "months" => rounded_hours(n.checked_mul(24 * 30)),
        "years" => Some(Duration::from_secs(n.checked_mul(24 * 365 * HOUR)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    #[test]
    fn running_statuses_with_and_without_health() {
        // Strings as Docker 20.10 writes them (container/state.go `String`).
        let up = parse("Up 5 seconds (healthy)");
        assert_eq!((up.health, up.running_for), (HealthState::Healthy, secs(5)));
        let up = parse("Up Less than a second (health: starting)");
        assert_eq!(
            (up.health, up.running_for),
            (HealthState::Starting, secs(0))
        );
        let up = parse("Up 2 minutes (unhealthy)");
        assert_eq!(
            (up.health, up.running_for),
            (HealthState::Unhealthy, secs(120))
        );
        let up = parse("Up About a minute");
        assert_eq!((up.health, up.running_for), (HealthState::None, secs(60)));
        let paused = parse("Up 3 hours (Paused)");
        assert_eq!(paused.health, HealthState::None);
        assert_eq!(paused.exit_code, None);
    }

    #[test]
    fn exited_statuses_carry_their_code() {
        assert_eq!(parse("Exited (1) 3 seconds ago").exit_code, Some(1));
        assert_eq!(parse("Exited (137) About an hour ago").exit_code, Some(137));
        assert_eq!(
            parse("Exited (0) Less than a second ago").exit_code,
            Some(0)
        );
        assert_eq!(parse("Exited (0) 2 days ago").running_for, None);
    }

    #[test]
    fn other_statuses_tell_nothing_more() {
        for text in [
            "Created",
            "Restarting (1) 2 seconds ago",
            "Dead",
            "Removal In Progress",
            "",
            "Up",
            "Up soon (healthy",
            "Exited (x) 1 second ago",
        ] {
            let s = parse(text);
            assert_eq!(s.exit_code, None, "{text}");
            assert_eq!(s.health, HealthState::None, "{text}");
        }
        assert_eq!(parse("Up soon").running_for, None);
    }

    #[test]
    fn durations_are_lower_bounds_of_every_go_units_form() {
        let cases = [
            ("Less than a second", 0),
            ("1 second", 1),
            ("59 seconds", 59),
            ("About a minute", 60),
            ("2 minutes", 120),
            ("59 minutes", 59 * 60),
            ("About an hour", 3600),
            // "2 hours" is written from 1.5 h on (rounded to the nearest hour).
            ("2 hours", 5400),
            ("47 hours", 47 * 3600 - 1800),
            ("2 days", 48 * 3600 - 1800),
            ("13 days", 13 * 24 * 3600 - 1800),
            ("2 weeks", 14 * 24 * 3600 - 1800),
            ("8 weeks", 8 * 7 * 24 * 3600 - 1800),
            ("2 months", 60 * 24 * 3600 - 1800),
            ("2 years", 2 * 365 * 24 * 3600),
        ];
        for (text, at_least_secs) in cases {
            assert_eq!(at_least(text), secs(at_least_secs), "{text}");
        }
        for text in [
            "",
            "soon",
            "1 fortnight",
            "-1 seconds",
            "99999999999999999999 years",
        ] {
            assert_eq!(at_least(text), None, "{text}");
        }
        assert_eq!(
            at_least("99999999999999 years"),
            None,
            "overflow is unknown"
        );
    }
}
