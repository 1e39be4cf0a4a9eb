//! Compiled regexes shared by the whole process: overlays repeat the same
//! image names and patch targets, and compiling is far costlier than matching.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;

/// Compiles `pattern`, reusing an earlier compilation of the same text.
pub(crate) fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(map) = cache.lock()
        && let Some(re) = map.get(pattern)
    {
        return Ok(re.clone());
    }
    let re = Regex::new(pattern)?;
    if let Ok(mut map) = cache.lock() {
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(pattern.to_string(), re.clone());
    }
    Ok(re)
}
