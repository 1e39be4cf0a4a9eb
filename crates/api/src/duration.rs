//! Durations in Go's `time.Duration` string syntax, as Flux's `metav1.Duration` fields use.

use std::time::Duration;

use crate::ApiError;

/// Schema pattern for interval-like fields (hours allowed), as in Flux's CRDs.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

/// Schema pattern for timeout fields, which Flux limits to minutes.
pub const TIMEOUT_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$";

/// Parses a Go duration string restricted to the units the CRD patterns allow
/// (`ms`, `s`, `m`, `h`), e.g. `1m30s`, `1.5h`, `250ms`.
pub fn parse_duration(value: &str) -> Result<Duration, ApiError> {
    let err = |reason| ApiError::InvalidDuration {
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() {
        return Err(err("empty"));
    }
    let bytes = value.as_bytes();
    let mut total = 0f64;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        if start == i {
            return Err(err("expected a number"));
        }
        let number: f64 = value[start..i].parse().map_err(|_| err("bad number"))?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let seconds_per_unit = match &value[unit_start..i] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(err("missing unit (ms, s, m or h)")),
            _ => return Err(err("unknown unit (use ms, s, m or h)")),
        };
        total += number * seconds_per_unit;
    }
    if !total.is_finite() || total > u64::MAX as f64 / 2.0 {
        return Err(err("out of range"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Formats a duration the way Go prints one (`1m30s`, `5m0s`, `500ms`).
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let total_secs = duration.as_secs();
    let (h, m, s) = (total_secs / 3600, (total_secs / 60) % 60, total_secs % 60);
    let frac = millis % 1000;
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0'))
    };
    if h > 0 {
        format!("{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{m}m{secs}")
    } else {
        secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2h0m5s"), Ok(Duration::from_secs(7205)));
    }

    #[test]
    fn rejects_bad_durations_with_a_reason() {
        for bad in ["", "5", "1d", "m", "1.2.3s", "-1s"] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn the_schema_pattern_and_the_parser_agree() {
        let pattern = regex_lite_match;
        for ok in ["1m", "10s", "1h30m", "0.5s", "100ms"] {
            assert!(pattern(ok), "{ok}");
            assert!(parse_duration(ok).is_ok(), "{ok}");
        }
    }

    /// The CRD pattern, hand-compiled: one or more `<digits>[.<digits>]<unit>` groups.
    fn regex_lite_match(s: &str) -> bool {
        let mut rest = s;
        if rest.is_empty() {
            return false;
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return false;
            }
            rest = &rest[digits..];
            if let Some(r) = rest.strip_prefix('.') {
                let d = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
                if d == 0 {
                    return false;
                }
                rest = &r[d..];
            }
            rest = if let Some(r) = rest.strip_prefix("ms") {
                r
            } else if let Some(r) = rest.strip_prefix(['s', 'm', 'h']) {
                r
            } else {
                return false;
            };
        }
        true
    }
}
