//! Which strings kubectl's YAML writer may print unquoted.
//!
//! `kubectl kustomize` prints each object by converting its JSON with
//! `sigs.k8s.io/yaml` (go-yaml v2). A string is written plain only when a
//! YAML 1.1 reader would read the plain text back as a string: not a bool
//! (`yes`, `off`, …), null (`~`, empty), int (`0x1F`, `017`, `1_000`), float
//! (`1e3`, `.5`), timestamp (`2024-1-2`) or base-60 number (`1:30`).

/// True when `s`, written without quotes, reads back as the same string.
pub(crate) fn plain_reads_as_string(s: &str) -> bool {
    resolves_to_string(s) && !is_base60_float(s)
}

fn resolves_to_string(s: &str) -> bool {
    let Some(&first) = s.as_bytes().first() else {
        return false; // the empty scalar is null
    };
    match first {
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => {
            !is_special_word(s)
        }
        b'.' => !is_special_word(s) && !is_dot_float(s),
        b'+' | b'-' | b'0'..=b'9' => !is_special_word(s) && !is_number_or_timestamp(s),
        // `<<` (merge) has no hint byte, so go-yaml never looks it up.
        _ => true,
    }
}

fn is_special_word(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "true"
            | "True"
            | "TRUE"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "false"
            | "False"
            | "FALSE"
            | "off"
            | "Off"
            | "OFF"
            | "~"
            | "null"
            | "Null"
            | "NULL"
            | ".nan"
            | ".NaN"
            | ".NAN"
            | ".inf"
            | ".Inf"
            | ".INF"
            | "+.inf"
            | "+.Inf"
            | "+.INF"
            | "-.inf"
            | "-.Inf"
            | "-.INF"
    )
}

/// Go's `strconv.ParseFloat` on text starting with `.`: `.5`, `.5e-3`.
fn is_dot_float(s: &str) -> bool {
    let rest = &s.as_bytes()[1..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && is_exponent_or_end(&rest[digits..])
}

/// `[eE][-+]?[0-9]+` or nothing.
fn is_exponent_or_end(rest: &[u8]) -> bool {
    match rest.split_first() {
        None => true,
        Some((b'e' | b'E', exp)) => {
            let exp = match exp.first() {
                Some(b'+' | b'-') => &exp[1..],
                _ => exp,
            };
            !exp.is_empty() && exp.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

fn is_number_or_timestamp(s: &str) -> bool {
    if is_timestamp(s) {
        return true;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    is_go_int(&plain) || is_yaml_style_float(&plain) || is_binary_int(&plain)
}

/// Go's `strconv.ParseInt(s, 0, 64)` or `ParseUint(s, 0, 64)` succeeds.
fn is_go_int(s: &str) -> bool {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, d)
        } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, d)
        } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, d)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return false;
    }
    match u128::from_str_radix(digits, radix) {
        Ok(v) if negative => v <= 1u128 << 63,
        Ok(v) => v <= u128::from(u64::MAX),
        Err(_) => false,
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let b = match b.first() {
        Some(b'+' | b'-') => &b[1..],
        _ => b,
    };
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut rest = &b[int_digits..];
    if let Some(after_dot) = rest.strip_prefix(b".") {
        let frac = after_dot.iter().take_while(|c| c.is_ascii_digit()).count();
        if int_digits == 0 && frac == 0 {
            return false;
        }
        rest = &after_dot[frac..];
    } else if int_digits == 0 {
        return false;
    }
    is_exponent_or_end(rest)
}

/// `0b101` / `-0b101` (go-yaml's own binary forms, after `_` removal).
fn is_binary_int(s: &str) -> bool {
    let digits = s.strip_prefix("0b").or_else(|| s.strip_prefix("-0b"));
    digits.is_some_and(|d| {
        !d.is_empty() && d.len() <= 64 && d.bytes().all(|c| c == b'0' || c == b'1')
    })
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    if !s.contains(':') {
        return false;
    }
    let b = match b.first() {
        Some(b'+' | b'-') => &b[1..],
        _ => b,
    };
    if !b.first().is_some_and(u8::is_ascii_digit) {
        return false;
    }
    let head = b
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'_')
        .count();
    let mut rest = &b[head..];
    let mut groups = 0;
    while let Some(after) = rest.strip_prefix(b":") {
        let n = after.iter().take_while(|c| c.is_ascii_digit()).count();
        let ok = match n {
            1 => true,
            2 => after[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
        rest = &after[n..];
    }
    if groups == 0 {
        return false;
    }
    match rest.split_first() {
        None => true,
        Some((b'.', frac)) => frac.iter().all(|c| c.is_ascii_digit() || *c == b'_'),
        _ => false,
    }
}

/// A cursor over timestamp text, following Go's `time.Parse` number rules.
struct Cursor<'a> {
    b: &'a [u8],
}

impl Cursor<'_> {
    /// One or two digits (Go's non-fixed `getnum`).
    fn num12(&mut self) -> Option<u32> {
        let first = *self.b.first()?;
        if !first.is_ascii_digit() {
            return None;
        }
        if self.b.get(1).is_some_and(u8::is_ascii_digit) {
            let v = u32::from(first - b'0') * 10 + u32::from(self.b[1] - b'0');
            self.b = &self.b[2..];
            Some(v)
        } else {
            self.b = &self.b[1..];
            Some(u32::from(first - b'0'))
        }
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        let (&c, rest) = self.b.split_first()?;
        (c == want).then(|| self.b = rest)
    }

    fn two_digits(&mut self) -> Option<u32> {
        let (a, b) = (*self.b.first()?, *self.b.get(1)?);
        if !a.is_ascii_digit() || !b.is_ascii_digit() {
            return None;
        }
        self.b = &self.b[2..];
        Some(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
    }
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// go-yaml v2's timestamp forms: `2006-1-2`, `2006-1-2 15:4:5[.frac]`,
/// `2006-1-2T15:4:5[.frac](Z|±hh:mm)` (or a lower-case `t`).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let year = b[..4]
        .iter()
        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
    let mut c = Cursor { b: &b[5..] };
    let Some(month) = c.num12() else { return false };
    if c.byte(b'-').is_none() {
        return false;
    }
    let Some(day) = c.num12() else { return false };
    if !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
        return false;
    }
    let Some((&sep, rest)) = c.b.split_first() else {
        return true; // date only
    };
    let zoned = match sep {
        b'T' | b't' => true,
        b' ' => false,
        _ => return false,
    };
    c.b = rest;
    let time_ok = (|| {
        let h = c.num12()?;
        c.byte(b':')?;
        let m = c.num12()?;
        c.byte(b':')?;
        let sec = c.num12()?;
        (h < 24 && m < 60 && sec < 60).then_some(())
    })();
    if time_ok.is_none() {
        return false;
    }
    if matches!(c.b.first(), Some(b'.' | b',')) && c.b.get(1).is_some_and(u8::is_ascii_digit) {
        let n = c.b[1..].iter().take_while(|d| d.is_ascii_digit()).count();
        c.b = &c.b[1 + n..];
    }
    if !zoned {
        return c.b.is_empty();
    }
    if c.byte(b'Z').is_some() {
        return c.b.is_empty();
    }
    let zone_ok = (|| {
        let (&sign, rest) = c.b.split_first()?;
        if sign != b'+' && sign != b'-' {
            return None;
        }
        c.b = rest;
        let hh = c.two_digits()?;
        c.byte(b':')?;
        let mm = c.two_digits()?;
        (hh < 24 && mm < 60 && c.b.is_empty()).then_some(())
    })();
    zone_ok.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_a_yaml_1_1_reader_takes_for_something_else() {
        for s in [
            "",
            "~",
            "null",
            "yes",
            "Y",
            "off",
            "ON",
            "true",
            "0",
            "-1",
            "+12",
            "0x1F",
            "0o17",
            "017",
            "0b101",
            "-0b1",
            "1_000",
            "1e3",
            "1.5",
            "-.5",
            ".5",
            "1.",
            "6e-3",
            "99999999999999999999",
            "2024-01-02",
            "2024-1-2",
            "2024-01-02T10:00:00Z",
            "2024-01-02 10:00:00.5",
            "2024-01-02t1:2:3+01:00",
            "1:30",
            "-1:30:00.5",
            ".inf",
            "-.Inf",
            ".NaN",
            "08",
            "1__",
        ] {
            assert!(!plain_reads_as_string(s), "{s:?} should need quotes");
        }
    }

    #[test]
    fn ordinary_strings_stay_plain() {
        for s in [
            "app",
            "yes please",
            "nginx:1.25",
            "1.2.3",
            "0x",
            "0xZZ",
            "1e",
            "e3",
            "2024-13-01",
            "2024-02-30",
            "2024-01-02T10:00:00",
            "12:60",
            "1:2:3x",
            "-",
            "+",
            ".",
            "..",
            ".e3",
            "-x",
            "inf",
            "nan",
            "Infinity",
            "0b102",
            "_1",
            "2024-01-02 10:00:00Z",
            "<<",
        ] {
            assert!(plain_reads_as_string(s), "{s:?} should stay plain");
        }
    }
}
