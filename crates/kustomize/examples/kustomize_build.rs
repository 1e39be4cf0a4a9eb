//! `kustomize_build DIR`: prints the build of DIR like `kubectl kustomize DIR`
//! (used by the benchmark to measure a build in its own process).

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: kustomize_build DIR");
        std::process::exit(2);
    };
    match driftless_kustomize::build(std::path::Path::new(&dir)) {
        Ok(list) => print!("{}", list.to_yaml()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
