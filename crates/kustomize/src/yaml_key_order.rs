//! The order kubectl prints mapping keys in: go-yaml v2's key sort, which
//! compares runs of digits by value (`a9` < `a10`) and puts other characters
//! before letters (`a-b` < `a0` < `aB`).

use std::cmp::Ordering;

/// go-yaml v2's `keyList.Less` for two string keys, as an ordering.
pub(crate) fn compare(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    if less(a, b) {
        Ordering::Less
    } else if less(b, a) {
        Ordering::Greater
    } else {
        a.cmp(b)
    }
}

fn digit_value(c: char) -> i64 {
    i64::from(u32::from(c)) - i64::from(u32::from('0'))
}

fn less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            for j in (0..i).rev() {
                if !ar[j].is_numeric() {
                    break;
                }
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_numeric() {
            an = an.wrapping_mul(10).wrapping_add(digit_value(ar[ai]));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_numeric() {
            bn = bn.wrapping_mul(10).wrapping_add(digit_value(br[bi]));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kubectl_order() {
        let mut keys = vec!["aB", "a10", "a0", "a9", "a-b", "b", "A", "_x", "a"];
        keys.sort_by(|a, b| compare(a, b));
        assert_eq!(keys, ["_x", "A", "a", "a-b", "a0", "a9", "a10", "aB", "b"]);
    }
}

/// Sorts map entries by key with [`compare`]. go-yaml's order is not a total
/// order for every set of keys (`a0_` / `a00` / `a0-` style runs can form a
/// cycle), and `slice::sort_by` may panic on such a comparator; this merge
/// sort only asks "is b before a?" and cannot panic, whatever the keys.
pub(crate) fn sort_entries<T>(entries: &mut Vec<(&String, T)>) {
    if entries.len() <= 16 {
        for i in 1..entries.len() {
            let mut j = i;
            while j > 0 && compare(entries[j].0, entries[j - 1].0) == Ordering::Less {
                entries.swap(j, j - 1);
                j -= 1;
            }
        }
        return;
    }
    let mut left = std::mem::take(entries);
    let mut right = left.split_off(left.len() / 2);
    sort_entries(&mut left);
    sort_entries(&mut right);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut l = left.into_iter().peekable();
    let mut r = right.into_iter().peekable();
    loop {
        let take_right = match (l.peek(), r.peek()) {
            (Some(a), Some(b)) => compare(b.0, a.0) == Ordering::Less,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (None, None) => break,
        };
        if let Some(item) = if take_right { r.next() } else { l.next() } {
            out.push(item);
        }
    }
    *entries = out;
}

#[cfg(test)]
mod sort_tests {
    /// Random keys over an alphabet of digits, letters and separators: some
    /// sets are not totally ordered by go-yaml's rule; sorting must not panic.
    #[test]
    fn sorting_hostile_keys_never_panics() {
        let alphabet = ['a', 'b', '0', '1', '9', '-', '_', 'A'];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..3000 {
            let mut keys: Vec<String> = Vec::new();
            for _ in 0..40 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let len = 1 + (seed % 6) as usize;
                let key: String = (0..len)
                    .map(|j| alphabet[((seed >> (j * 5)) % alphabet.len() as u64) as usize])
                    .collect();
                keys.push(key);
            }
            let mut entries: Vec<(&String, ())> = keys.iter().map(|k| (k, ())).collect();
            super::sort_entries(&mut entries);
            assert_eq!(entries.len(), keys.len());
        }
    }
}
