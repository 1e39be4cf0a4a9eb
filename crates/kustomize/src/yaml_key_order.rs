//! The order kubectl prints mapping keys in: go-yaml's "natural" key order,
//! not byte order. At the first differing character two letters compare by
//! code point; a letter and a non-letter put the non-letter first (unless the
//! previous character was a digit, then the letter first); runs of digits
//! compare as numbers. So `A_FIRST` sorts before `ANOTHER`, and `item2`
//! before `item10`.

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

fn digit_value(c: char) -> i64 {
    i64::from(u32::from(c)).wrapping_sub(i64::from(u32::from('0')))
}

/// go-yaml's `keyList.Less` for two string keys.
pub(crate) fn key_less(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        let (ab, bb) = (a.as_bytes(), b.as_bytes());
        less_by(
            ab.len(),
            |i| char::from(ab[i]),
            bb.len(),
            |i| char::from(bb[i]),
        )
    } else {
        let ar: Vec<char> = a.chars().collect();
        let br: Vec<char> = b.chars().collect();
        less_by(ar.len(), |i| ar[i], br.len(), |i| br[i])
    }
}

fn less_by(
    alen: usize,
    ar: impl Fn(usize) -> char,
    blen: usize,
    br: impl Fn(usize) -> char,
) -> bool {
    let mut digits = false;
    for i in 0..alen.min(blen) {
        let (ac, bc) = (ar(i), br(i));
        if ac == bc {
            digits = is_digit(ac);
            continue;
        }
        let al = ac.is_alphabetic();
        let bl = bc.is_alphabetic();
        if al && bl {
            return ac < bc;
        }
        if al || bl {
            return if digits { al } else { bl };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ac == '0' || bc == '0' {
            let mut j = i;
            while j > 0 && is_digit(ar(j - 1)) {
                j -= 1;
                if ar(j) != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < alen && is_digit(ar(ai)) {
            an = an.wrapping_mul(10).wrapping_add(digit_value(ar(ai)));
            ai += 1;
        }
        let mut bi = i;
        while bi < blen && is_digit(br(bi)) {
            bn = bn.wrapping_mul(10).wrapping_add(digit_value(br(bi)));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ac < bc;
    }
    alen < blen
}

/// Sorts entries by key in go-yaml's order. A merge sort that only asks
/// `key_less`, so it cannot panic whatever the keys (the order is not total
/// for every pair of strings, which `slice::sort_by` may refuse).
pub(crate) fn sort_entries<T>(entries: &mut Vec<(&String, T)>) {
    if entries.len() <= 16 {
        // Insertion sort: few keys, no allocation.
        for i in 1..entries.len() {
            let mut j = i;
            while j > 0 && key_less(entries[j].0, entries[j - 1].0) {
                entries.swap(j, j - 1);
                j -= 1;
            }
        }
        return;
    }
    let mut items: Vec<(&String, T)> = std::mem::take(entries);
    let mid = items.len() / 2;
    let mut right = items.split_off(mid);
    let mut left = items;
    sort_entries(&mut left);
    sort_entries(&mut right);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut l = left.into_iter().peekable();
    let mut r = right.into_iter().peekable();
    loop {
        let take_right = match (l.peek(), r.peek()) {
            (Some(a), Some(b)) => key_less(b.0, a.0),
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (None, None) => break,
        };
        let next = if take_right { r.next() } else { l.next() };
        if let Some(item) = next {
            out.push(item);
        }
    }
    *entries = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(keys: &[&str]) -> Vec<String> {
        let owned: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
        let mut entries: Vec<(&String, ())> = owned.iter().map(|k| (k, ())).collect();
        sort_entries(&mut entries);
        entries.into_iter().map(|(k, _)| k.clone()).collect()
    }

    #[test]
    fn non_letters_before_letters_and_numbers_by_value() {
        assert_eq!(
            sorted(&["ANOTHER_ENV_VARIABLE", "A_FIRST_ENV_VARIABLE"]),
            vec!["A_FIRST_ENV_VARIABLE", "ANOTHER_ENV_VARIABLE"]
        );
        assert_eq!(
            sorted(&["item10", "item2", "item1"]),
            vec!["item1", "item2", "item10"]
        );
        assert_eq!(
            sorted(&["metadata", "kind", "apiVersion", "data"]),
            vec!["apiVersion", "data", "kind", "metadata"]
        );
        assert!(key_less("a", "ab") && !key_less("ab", "a"));
    }

    #[test]
    fn huge_digit_runs_do_not_overflow() {
        let a = format!("x{}", "9".repeat(100));
        let b = format!("x{}", "8".repeat(100));
        let _ = key_less(&a, &b);
        let _ = sorted(&[&a, &b, "x", "x0", "x00", "x01"]);
    }
}
