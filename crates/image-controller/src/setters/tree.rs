//! Applying setters to every YAML file under a directory of a working tree: all files are
//! rewritten in memory first and written only when every one succeeded, so a bad marker
//! never leaves a half-updated tree.

use std::path::{Component, Path, PathBuf};

use super::{Change, PolicyKey, PolicyLookup, rewrite};
use crate::Error;

/// Rewrites the markers of every `.yaml`/`.yml` file under `root/path` (`.git` and symlinks
/// are skipped; `path` may not leave `root`). Returns the changes, in file order.
pub fn update_tree<'p>(
    root: &Path,
    path: Option<&str>,
    default_namespace: &str,
    lookup: &impl Fn(&PolicyKey) -> PolicyLookup<'p>,
) -> Result<Vec<Change>, Error> {
    let start = resolve(root, path.unwrap_or("."))?;
    let mut files = Vec::new();
    collect_yaml(&start, &mut files)?;
    files.sort();
    let mut pending = Vec::new();
    let mut changes = Vec::new();
    for file in files {
        let relative = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        let bytes = std::fs::read(&file).map_err(Error::io("reading", &file))?;
        let Ok(text) = std::str::from_utf8(&bytes) else {
            if bytes.windows(12).any(|w| w == b"$imagepolicy") {
                return Err(Error::Setter {
                    file: relative,
                    line: 0,
                    reason: "file with setter markers is not UTF-8".into(),
                });
            }
            continue;
        };
        let (new, file_changes) = rewrite(text, &relative, default_namespace, lookup)?;
        if let Some(new) = new {
            pending.push((file, new));
            changes.extend(file_changes);
        }
    }
    for (file, content) in pending {
        std::fs::write(&file, content).map_err(Error::io("writing", &file))?;
    }
    Ok(changes)
}

fn resolve(root: &Path, path: &str) -> Result<PathBuf, Error> {
    let relative = Path::new(path.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(Error::InvalidSpec(format!(
            "spec.update.path '{path}' may not contain '..'"
        )));
    }
    let start = root.join(relative);
    match std::fs::symlink_metadata(&start) {
        Ok(meta) if meta.is_dir() => Ok(start),
        Ok(_) => Err(Error::InvalidSpec(format!(
            "spec.update.path '{path}' is not a directory in the repository"
        ))),
        Err(_) => Err(Error::InvalidSpec(format!(
            "spec.update.path '{path}' does not exist in the repository"
        ))),
    }
}

fn collect_yaml(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Error> {
    for entry in std::fs::read_dir(dir).map_err(Error::io("listing", dir))? {
        let entry = entry.map_err(Error::io("listing", dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(Error::io("inspecting", &path))?;
        if kind.is_dir() && entry.file_name() != ".git" {
            collect_yaml(&path, files)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use driftless_api::image::ImageRef;

    use super::*;

    fn lookup<'a>(
        images: &'a BTreeMap<PolicyKey, ImageRef>,
    ) -> impl Fn(&PolicyKey) -> PolicyLookup<'a> + 'a {
        move |k| {
            images
                .get(k)
                .map_or(PolicyLookup::Missing, PolicyLookup::Image)
        }
    }

    #[test]
    fn rewrites_under_the_path_only_and_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let marked = "image: r/web:1.0.0 # {\"$imagepolicy\": \"ns:web\"}\n";
        for (file, content) in [
            ("deploy/a.yaml", marked),
            ("deploy/sub/b.yml", marked),
            ("deploy/readme.md", marked),
            ("other/c.yaml", marked),
            ("deploy/.git/d.yaml", marked),
        ] {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), content).unwrap();
        }
        let images = BTreeMap::from([(
            PolicyKey {
                namespace: "ns".into(),
                name: "web".into(),
            },
            ImageRef {
                name: "r/web".into(),
                tag: "1.1.0".into(),
                digest: None,
            },
        )]);
        let changes = update_tree(root, Some("./deploy"), "ns", &lookup(&images)).unwrap();
        let files: Vec<&str> = changes.iter().map(|c| c.file.as_str()).collect();
        assert_eq!(files, ["deploy/a.yaml", "deploy/sub/b.yml"]);
        let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap();
        assert_eq!(read("deploy/a.yaml"), marked.replace("1.0.0", "1.1.0"));
        for untouched in ["deploy/readme.md", "other/c.yaml", "deploy/.git/d.yaml"] {
            assert_eq!(read(untouched), marked, "{untouched}");
        }

        // A later file names a missing policy: the earlier file must not be written either.
        std::fs::write(root.join("deploy/a.yaml"), marked).unwrap();
        std::fs::write(
            root.join("deploy/z.yaml"),
            "image: x:1 # {\"$imagepolicy\": \"ns:gone\"}\n",
        )
        .unwrap();
        let err = update_tree(root, Some("deploy"), "ns", &lookup(&images))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("deploy/z.yaml:1:") && err.contains("ns:gone"),
            "{err}"
        );
        assert_eq!(
            read("deploy/a.yaml"),
            marked,
            "nothing written after an error"
        );
    }

    #[test]
    fn the_path_may_not_leave_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let images = BTreeMap::new();
        let err = update_tree(dir.path(), Some("../etc"), "ns", &lookup(&images)).unwrap_err();
        assert!(
            err.to_string().contains("spec.update.path '../etc'"),
            "{err}"
        );
        let err = update_tree(dir.path(), Some("missing"), "ns", &lookup(&images)).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
