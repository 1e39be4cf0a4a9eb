//! A YAML writer for JSON values that prints the bytes `kubectl kustomize`
//! prints. kubectl converts each object's JSON with `sigs.k8s.io/yaml`
//! (go-yaml v2, 2-space indent, lines folded past 80 columns), so this follows
//! that emitter's rules:
//!
//! - keys in go-yaml's natural order ([`crate::yaml_key_order`]);
//! - a string is plain when it reads back as a string
//!   ([`crate::yaml_resolve`]) and has no indicator, leading/trailing space or
//!   line break; else single-quoted when it has no special character, else
//!   double-quoted; a string with a line break is a literal block (`|`, `|-`,
//!   `|+`, with `|2` when it starts with a space or a break) unless it has a
//!   special character, trailing space or a space before a break;
//! - plain, single- and double-quoted values fold at the first space past
//!   column 80; keys never fold;
//! - sequences in a mapping are not indented (`- ` at the key's column);
//! - floats print like Go's `strconv.FormatFloat(f, 'g', -1, 64)`.

use serde_json::{Map, Number, Value};

use crate::yaml_key_order;
use crate::yaml_resolve::plain_reads_as_string;

const BEST_WIDTH: usize = 80;
const BEST_INDENT: usize = 2;
/// Longest key (in bytes) written as `key:`; longer ones use `? key`.
const MAX_SIMPLE_KEY: usize = 128;

/// Renders one document (without a `---` separator).
pub(crate) fn document(v: &Value) -> String {
    let mut e = Emitter::default();
    match v {
        Value::Object(m) if !m.is_empty() => e.mapping(m, 0),
        Value::Array(a) if !a.is_empty() => e.sequence(a, 0),
        other => {
            e.indent = BEST_INDENT;
            e.scalar(other, false);
        }
    }
    // Document end: the current line is closed; an open-ended block scalar
    // (`|+` last) is closed with `...`.
    e.indent = 0;
    e.write_indent();
    if e.open_ended {
        e.indicator("...", true, false, false);
        e.write_indent();
    }
    e.out
}

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

/// What go-yaml's scalar analysis allows for one string.
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// ASCII letters, digits, `_`, `/` and inner `-`/`.`: always plain-allowed.
fn is_simple_word(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && !matches!(b[0], b'-' | b'.')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/'))
}

/// go-yaml's `is_printable` (it refuses tabs and characters beyond the BMP).
fn is_printable(c: char) -> bool {
    matches!(c, '\n' | '\x20'..='\x7e' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        && c != '\u{feff}'
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let last = chars.len() - 1;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = i == last || matches!(chars[i + 1], ' ' | '\t');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= i == last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= i == last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = matches!(c, ' ' | '\t' | '\0') || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// The style go-yaml picks for a string value (`simple_key`: a mapping key).
fn style_for(s: &str, simple_key: bool) -> Style {
    let requested = if s.contains('\n') {
        Style::Literal
    } else if plain_reads_as_string(s) {
        Style::Plain
    } else {
        Style::DoubleQuoted
    };
    let a = analyze(s);
    let mut style = requested;
    if simple_key && a.multiline {
        style = Style::DoubleQuoted;
    }
    if style == Style::Plain && (!a.block_plain_allowed || (s.is_empty() && simple_key)) {
        style = Style::SingleQuoted;
    }
    if style == Style::SingleQuoted && !a.single_quoted_allowed {
        style = Style::DoubleQuoted;
    }
    if style == Style::Literal && (!a.block_allowed || simple_key) {
        style = Style::DoubleQuoted;
    }
    style
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` with YAML's names for the
/// non-finite values.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Shortest round-trip digits and decimal exponent.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    let n = digits.len() as i32;
    let body = if exp < 0 {
        format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    } else if exp + 1 >= n {
        format!("{}{}", digits, "0".repeat((exp + 1 - n) as usize))
    } else {
        let point = (exp + 1) as usize;
        format!("{}.{}", &digits[..point], &digits[point..])
    };
    format!("{sign}{body}")
}

/// A number as kubectl prints it: its JSON (Go's `encoding/json`, which
/// writes integral floats below 1e21 without a point) read back by go-yaml,
/// so `1e6` prints `1000000` and `1.0` prints `1`.
fn number(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
            return format!("{}", f as i64);
        }
        if (0.0..1.844_674_407_370_955_2e19).contains(&f) {
            return format!("{}", f as u64);
        }
    }
    go_float(f)
}

/// go-yaml's emitter state: the output, the column (in characters), the
/// current indentation and whether the line so far is only indentation.
struct Emitter {
    out: String,
    column: usize,
    indent: usize,
    whitespace: bool,
    indention: bool,
    open_ended: bool,
}

impl Default for Emitter {
    fn default() -> Self {
        Emitter {
            out: String::new(),
            column: 0,
            indent: 0,
            whitespace: true,
            indention: true,
            open_ended: false,
        }
    }
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// A break character from a value: `\n` as a newline, others verbatim.
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_indent(&mut self) {
        let indent = self.indent;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn indicator(
        &mut self,
        text: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in text.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
        self.open_ended = false;
    }

    /// A block mapping whose keys sit at column `indent`.
    fn mapping(&mut self, m: &Map<String, Value>, indent: usize) {
        let mut entries: Vec<(&String, &Value)> = m.iter().collect();
        yaml_key_order::sort_entries(&mut entries);
        for (k, v) in entries {
            self.indent = indent;
            self.write_indent();
            let simple = k.len() <= MAX_SIMPLE_KEY && !k.chars().any(is_break);
            if simple {
                self.string(k, true);
                self.indicator(":", false, false, false);
            } else {
                self.indicator("?", true, false, true);
                self.indent = indent + BEST_INDENT;
                self.string(k, false);
                self.indent = indent;
                self.write_indent();
                self.indicator(":", true, false, true);
            }
            self.value(v, indent, true);
        }
    }

    /// A block sequence whose `- ` indicators sit at column `indent`.
    fn sequence(&mut self, a: &[Value], indent: usize) {
        for item in a {
            self.indent = indent;
            self.write_indent();
            self.indicator("-", true, false, true);
            self.value(item, indent, false);
        }
    }

    /// A node after `key:` (`in_mapping`) or `- `, whose parent sits at `indent`.
    fn value(&mut self, v: &Value, indent: usize, in_mapping: bool) {
        match v {
            Value::Object(m) if !m.is_empty() => self.mapping(m, indent + BEST_INDENT),
            Value::Array(a) if !a.is_empty() => {
                // A sequence directly under a key is not indented.
                let indentless = in_mapping && !self.indention;
                let at = if indentless {
                    indent
                } else {
                    indent + BEST_INDENT
                };
                self.sequence(a, at);
            }
            other => {
                self.indent = indent + BEST_INDENT;
                self.scalar(other, false);
            }
        }
    }

    fn scalar(&mut self, v: &Value, simple_key: bool) {
        match v {
            Value::Null => self.plain("null", false),
            Value::Bool(b) => self.plain(if *b { "true" } else { "false" }, false),
            Value::Number(n) => self.plain(&number(n), false),
            Value::String(s) => self.string(s, simple_key),
            Value::Object(_) => {
                self.indicator("{", true, true, false);
                self.indicator("}", false, false, false);
            }
            Value::Array(_) => {
                self.indicator("[", true, true, false);
                self.indicator("]", false, false, false);
            }
        }
    }

    fn string(&mut self, s: &str, simple_key: bool) {
        // Fast path for the common case (names, labels, images without a
        // tag): no space, indicator or break, so nothing to analyze or fold.
        if is_simple_word(s) && plain_reads_as_string(s) {
            if !self.whitespace {
                self.put(' ');
            }
            self.out.push_str(s);
            self.column += s.len();
            self.whitespace = false;
            self.indention = false;
            return;
        }
        let allow_breaks = !simple_key;
        match style_for(s, simple_key) {
            Style::Plain => self.plain(s, allow_breaks),
            Style::SingleQuoted => self.single_quoted(s, allow_breaks),
            Style::DoubleQuoted => self.double_quoted(s, allow_breaks),
            Style::Literal => self.literal(s),
        }
    }

    fn plain(&mut self, s: &str, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let chars: Vec<char> = s.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_space {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn single_quoted(&mut self, s: &str, allow_breaks: bool) {
        self.indicator("'", true, false, false);
        let chars: Vec<char> = s.chars().collect();
        let last = chars.len().saturating_sub(1);
        let (mut spaces, mut breaks) = (false, false);
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i < last
                    && !next_space
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn double_quoted(&mut self, s: &str, allow_breaks: bool) {
        self.indicator("\"", true, false, false);
        let chars: Vec<char> = s.chars().collect();
        let last = chars.len().saturating_sub(1);
        let mut spaces = false;
        // go-yaml's BOM test looks at the value's start, not the current
        // character: a value starting with a BOM is escaped throughout.
        let bom_start = s.starts_with('\u{feff}');
        for (i, &c) in chars.iter().enumerate() {
            if bom_start || !is_printable(c) || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\x07' => self.put('a'),
                    '\x08' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\x0b' => self.put('v'),
                    '\x0c' => self.put('f'),
                    '\r' => self.put('r'),
                    '\x1b' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{a0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    other => {
                        let v = u32::from(other);
                        let (letter, width) = if v <= 0xff {
                            ('x', 2)
                        } else if v <= 0xffff {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(letter);
                        for k in (0..width).rev() {
                            let digit = (v >> (k * 4)) & 0xf;
                            self.put(
                                char::from_digit(digit, 16).map_or('0', |d| d.to_ascii_uppercase()),
                            );
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i < last {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn literal(&mut self, s: &str) {
        self.indicator("|", true, false, false);
        let first = s.chars().next();
        if first.is_some_and(|c| c == ' ' || is_break(c)) {
            self.indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        self.open_ended = false;
        let mut rev = s.chars().rev();
        let chomp = match (rev.next(), rev.next()) {
            (None, _) => Some('-'),
            (Some(l), _) if !is_break(l) => Some('-'),
            (Some(_), None) => Some('+'),
            (Some(_), Some(p)) if is_break(p) => Some('+'),
            _ => None,
        };
        if let Some(c) = chomp {
            self.indicator(&c.to_string(), false, false, false);
            self.open_ended = c == '+';
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for c in s.chars() {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(v: &Value) -> Value {
        let text = document(v);
        serde_norway::from_str(&text).unwrap_or(Value::String(format!("unparsable: {text}")))
    }

    fn data(s: &str) -> String {
        document(&json!({ "k": s }))
    }

    #[test]
    fn quoting_follows_go_yaml() {
        assert_eq!(data("*"), "k: '*'\n");
        assert_eq!(data("'"), "k: ''''\n");
        assert_eq!(data("yes"), "k: \"yes\"\n");
        assert_eq!(data("0755"), "k: \"0755\"\n");
        assert_eq!(data(""), "k: \"\"\n");
        assert_eq!(data("a: b"), "k: 'a: b'\n");
        assert_eq!(data("trailing  "), "k: 'trailing  '\n");
        assert_eq!(data("it's"), "k: it's\n");
        assert_eq!(data("a\tb"), "k: \"a\\tb\"\n");
        assert_eq!(data("hi 😀"), "k: \"hi \\U0001F600\"\n");
        assert_eq!(
            data("!object.metadata.name.startsWith('test-')"),
            "k: '!object.metadata.name.startsWith(''test-'')'\n"
        );
    }

    #[test]
    fn block_scalars_carry_indent_and_chomping_hints() {
        assert_eq!(data("a\nb"), "k: |-\n  a\n  b\n");
        assert_eq!(data("a\nb\n"), "k: |\n  a\n  b\n");
        assert_eq!(data("a\n\n"), "k: |+\n  a\n\n...\n");
        assert_eq!(data("\nlead"), "k: |2-\n\n  lead\n");
        assert_eq!(data("a \nb"), "k: \"a \\nb\"\n");
    }

    #[test]
    fn long_values_fold_past_column_80() {
        let long = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore";
        assert_eq!(
            document(&json!({ "long": long })),
            "long: Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\n  incididunt ut labore\n"
        );
    }

    #[test]
    fn integral_floats_print_as_integers() {
        assert_eq!(
            document(&json!({"a": 1e6, "b": 1.0, "c": 1e20, "d": 1e21})),
            "a: 1000000\nb: 1\nc: 1e+20\nd: 1e+21\n"
        );
    }

    #[test]
    fn floats_print_like_go() {
        for (f, s) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1e21, "1e+21"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
        ] {
            assert_eq!(go_float(f), s, "{f}");
        }
    }

    #[test]
    fn nested_values_round_trip() {
        let v = json!({
            "a": {"b": [1, "two", {"c": null, "d": [], "e": {}}], "f": "x\ny\n", "g": "x\ny", "h": "x\n\n"},
            "list": [[1, 2], "yes", {"k": "v", "m": {"n": 1.5}}],
            "weird": "tab\there \"q\" back\\slash",
            "yes": "key is quoted"
        });
        assert_eq!(round_trip(&v), v);
    }
}
