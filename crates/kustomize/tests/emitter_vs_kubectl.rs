//! Property test of the YAML emitter against the installed `kubectl
//! kustomize`: a seeded random set of scalars (special words, numbers,
//! timestamps, indicators, quotes, tabs, unicode, line breaks, long text with
//! spaces, leading/trailing spaces) goes into a ConfigMap's data (as values),
//! a custom object's map (as keys) and list (as items); the bytes both print
//! must be identical. Skipped, saying so, when kubectl is not installed.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// A small deterministic generator (xorshift64*), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "true",
    "False",
    "null",
    "~",
    "NULL",
    "0755",
    "08",
    "1e3",
    "1.0",
    "0x1F",
    "1_000",
    "+1",
    "-.5",
    ".inf",
    "-.Inf",
    ".nan",
    "2024-01-02",
    "2024-1-2T10:00:00Z",
    "2024-01-02 10:00:00.5",
    "1:30",
    "12:60",
    "<<",
    "=",
    "app",
    "nginx:1.25",
    "http://example.com/a?b=c#d",
    "a#b",
    "a #b",
    "a: b",
    "a:b",
    "key:",
    "-x",
    "- x",
    "--x",
    "---",
    "...",
    "?x",
    "? x",
    ":x",
    "*",
    "&a",
    "!tag",
    "|",
    ">",
    "%",
    "@",
    "`",
    "[a]",
    "{a}",
    "a,b",
    "'",
    "''",
    "\"",
    "\\",
    "it's",
    "say \"hi\"",
    "tab\there",
    "é",
    "中文",
    "😀",
    "\u{a0}",
    "\u{2028}",
    "\u{feff}",
    "\u{7}",
    "\u{1b}",
    "\r",
    "Ω",
    "",
];

const FILLER: &[&str] = &[
    "Lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet,",
    "consectetur",
    "adipiscing",
    "elit,",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua.",
    "x",
    "supercalifragilisticexpialidocious-and-then-some",
];

fn random_scalar(rng: &mut Rng) -> String {
    match rng.below(10) {
        // A single special word.
        0 | 1 => rng.pick(WORDS).to_string(),
        // Long text with spaces, sometimes doubled, to exercise folding.
        2 | 3 => {
            let n = 10 + rng.below(40);
            let mut s = String::new();
            for i in 0..n {
                if i > 0 {
                    s.push_str(if rng.below(12) == 0 { "  " } else { " " });
                }
                s.push_str(if rng.below(8) == 0 {
                    rng.pick(WORDS)
                } else {
                    rng.pick(FILLER)
                });
            }
            s
        }
        // Several lines, with leading/trailing breaks and spaces at times.
        4 | 5 => {
            let mut s = String::new();
            if rng.below(4) == 0 {
                s.push('\n');
            }
            if rng.below(5) == 0 {
                s.push(' ');
            }
            for _ in 0..1 + rng.below(4) {
                s.push_str(rng.pick(FILLER));
                if rng.below(3) == 0 {
                    s.push(' ');
                    s.push_str(rng.pick(WORDS));
                }
                if rng.below(8) == 0 {
                    s.push(' ');
                }
                s.push('\n');
                if rng.below(5) == 0 {
                    s.push('\n');
                }
            }
            match rng.below(3) {
                0 => s.truncate(s.trim_end_matches('\n').len()),
                1 => s.push_str(rng.pick(FILLER)),
                _ => {}
            }
            s
        }
        // Leading or trailing spaces around a word.
        6 => format!(
            "{}{}{}",
            " ".repeat(rng.below(3)),
            rng.pick(WORDS),
            " ".repeat(rng.below(3))
        ),
        // A mix of words and punctuation without spaces.
        _ => {
            let mut s = String::new();
            for _ in 0..1 + rng.below(4) {
                s.push_str(rng.pick(WORDS));
            }
            s
        }
    }
}

/// A YAML double-quoted scalar that any reader takes back exactly.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08X}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

fn write_inputs(dir: &Path, scalars: &[String]) {
    let mut cm =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: scalars\ndata:\n");
    for (i, s) in scalars.iter().enumerate() {
        let _ = writeln!(cm, "  k{i:03}: {}", quoted(s));
    }
    let mut thing = String::from(
        "apiVersion: example.com/v1\nkind: Thing\nmetadata:\n  name: keys\nspec:\n  byKey:\n",
    );
    // Keys: the scalars without digits, plus number-like keys. go-yaml's key
    // order is not transitive once digits and letters mix (`08` < `0x1F` <
    // `1e3` < `08`), and Go sorts map keys taken in random order, so kubectl
    // itself prints such key sets in varying orders. A `<<` key is a merge
    // key to kubectl's reader: not an emitter matter.
    let numeric = [
        "0755",
        "08",
        "1e3",
        "1.0",
        "+1",
        "-.5",
        "1:30",
        "2024-01-02",
    ];
    let keys = scalars
        .iter()
        .map(String::as_str)
        .filter(|s| *s != "<<" && !s.chars().any(|c| c.is_ascii_digit()))
        .chain(numeric);
    let mut seen = std::collections::HashSet::new();
    for (i, s) in keys.enumerate() {
        if seen.insert(s) {
            let _ = writeln!(thing, "    {}: {i}", quoted(s));
        }
    }
    thing.push_str("  items:\n");
    for s in scalars {
        let _ = writeln!(thing, "  - {}", quoted(s));
    }
    thing.push_str("  nested:\n  - - a\n    - b\n  - {}\n  - []\n  - x: 1.5\n    y: 1e6\n");
    std::fs::write(dir.join("scalars.yaml"), cm).expect("write scalars.yaml");
    std::fs::write(dir.join("thing.yaml"), thing).expect("write thing.yaml");
    std::fs::write(
        dir.join("kustomization.yaml"),
        "resources:\n- scalars.yaml\n- thing.yaml\n",
    )
    .expect("write kustomization.yaml");
}

#[test]
fn random_scalars_print_as_kubectl_prints_them() {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: kubectl is not installed; the emitter was not compared with it");
        return;
    }
    // EMITTER_SEEDS=n adds n more seeds (a longer search for differences).
    let extra: u64 = std::env::var("EMITTER_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let seeds = [0x5eed_u64, 0xdead_beef, 42]
        .into_iter()
        .chain((1..=extra).map(|n| n.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    for seed in seeds {
        let mut rng = Rng(seed);
        let scalars: Vec<String> = (0..300).map(|_| random_scalar(&mut rng)).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        write_inputs(dir.path(), &scalars);
        let kubectl = Command::new("kubectl")
            .arg("kustomize")
            .arg(dir.path())
            .output()
            .expect("run kubectl kustomize");
        assert!(
            kubectl.status.success(),
            "kubectl failed (seed {seed:#x}): {}",
            String::from_utf8_lossy(&kubectl.stderr)
        );
        let theirs = String::from_utf8(kubectl.stdout).expect("kubectl prints UTF-8");
        let ours = driftless_kustomize::build(dir.path())
            .unwrap_or_else(|e| panic!("we fail (seed {seed:#x}): {e}"))
            .to_yaml();
        if ours != theirs {
            if let Ok(dump) = std::env::var("EMITTER_DUMP") {
                let _ = std::fs::write(format!("{dump}.ours"), &ours);
                let _ = std::fs::write(format!("{dump}.kubectl"), &theirs);
            }
            let line = ours
                .lines()
                .zip(theirs.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            let around = |t: &str| -> String {
                t.lines()
                    .skip(line.saturating_sub(2))
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            panic!(
                "seed {seed:#x}: output differs at line {}\n--- ours\n{}\n--- kubectl\n{}",
                line + 1,
                around(&ours),
                around(&theirs)
            );
        }
    }
}
