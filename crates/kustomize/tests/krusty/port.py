#!/usr/bin/env python3
"""Port kustomize's own integration tests into golden cases for Driftless.

Source: a local mirror of github.com/kubernetes-sigs/kustomize at tag
kustomize/v5.5.0 (the kustomize the installed kubectl bundles).

1. The krusty tests (`api/krusty/*_test.go`): rather than parse Go, the
   script injects `tools/dumphook.go` into kustomize's `krusty` package and
   runs `go test`: every `Kustomizer.Run` a test makes writes the test's whole
   filesystem, the build path and the options into a dump directory. Each
   dump becomes one case `<file>__<TestName>[__n]/` (n counts the builds one
   test makes, in order).
2. The `examples/*.md` walkthroughs: their shell blocks run in a sandbox
   where `curl` of this repository's raw files is served from the mirror (no
   network) and `kustomize build DIR` records DIR as a case
   `examples__<doc>[__n]/`; `kustomize edit` runs a kustomize built from the
   same tag (it only edits files). Each kustomization checked into an
   example's directory is a case `examples_tree__<path>/` too.
3. Each case's expectation is what the INSTALLED `kubectl kustomize` prints
   for it: `expected.yaml` (exact bytes) or `expected-error.txt` (its stderr,
   the input directory replaced by `<input>`). The Go tests' expectations are
   not used.

Cases needing the network, exec/container/Go plugins or helm are skipped and
listed in SKIPPED.md with their reason.

Usage: port.py MIRROR_GIT_DIR [--tag kustomize/v5.5.0]
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Whole test files skipped, with the reason.
SKIP_FILES = {
    "remoteloader": "loads remote git bases (network / git clone)",
    "fnplugin": "exec/container KRM function plugins",
    "helmchartinflationgenerator": "helm chart inflation (needs helm)",
    "chartinflatorplugin": "helm chart inflation (needs helm)",
    "transformerplugin": "Go/exec transformer plugins compiled by the Go test harness",
    "pluginenv": "exec plugin reading its environment",
}

# Individual tests skipped, with the reason.
SKIP_TESTS = {
    "openapicustomschema__TestCustomOpenApiFieldBasicUsageWithRemoteSchema": "remote openapi schema (network)",
    "openapicustomschema__TestCustomOpenApiFieldFromBaseWithRemoteSchema": "remote openapi schema (network)",
    "openapicustomschema__TestCustomOpenApiFieldFromOverlayWithRemoteSchema": "remote openapi schema (network)",
    "originannotation__TestAnnoOriginRemoteBuiltinGenerator": "remote git base (network)",
}

# kubectl stderr fragments that mean the case needs plugins or helm.
PLUGIN_ERRORS = [
    ("external plugins disabled", "Go/exec plugin (kubectl refuses without --enable-alpha-plugins)"),
    ("unable to load plugin", "Go/exec plugin"),
    ("enable-exec", "exec plugin"),
    ("helm", "helm chart inflation (needs helm)"),
    ("container", "container KRM function"),
]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, **kw)


def unpack(mirror, tag, dest):
    archive = run(["git", "-C", mirror, "archive", tag, "api", "kyaml", "examples",
                   "plugin", "kustomize", "cmd/config"])
    if archive.returncode != 0:
        sys.exit(f"git archive {tag}: {archive.stderr.decode()}")
    run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


def dump_krusty(src, dump):
    (src / "go.work").write_text("go 1.22.7\n\nuse (\n\t./api\n\t./kyaml\n)\n")
    shutil.copy(HERE / "tools" / "dumphook.go", src / "api" / "krusty" / "zz_dumphook.go")
    runner = src / "api" / "krusty" / "kustomizer.go"
    text = runner.read_text()
    sig = "\tfSys filesys.FileSystem, path string) (resmap.ResMap, error) {\n"
    if sig not in text:
        sys.exit("Kustomizer.Run signature not found: update the hook")
    runner.write_text(text.replace(sig, sig + "\tdumpCase(fSys, path, b.options)\n", 1))
    # WriteLegacyConfigs concatenates a Go map in iteration order: sort it so
    # regenerated cases are byte-stable.
    harness = src / "api" / "testutils" / "kusttest" / "harness.go"
    text = harness.read_text()
    loop = "\tfor _, tCfg := range m {\n\t\tcontent = append(content, []byte(tCfg)...)\n\t}\n"
    if loop not in text:
        sys.exit("WriteLegacyConfigs loop not found: update port.py")
    text = text.replace(loop, (
        "\tkeys := make([]string, 0, len(m))\n\tfor k := range m {\n\t\tkeys = append(keys, k)\n\t}\n"
        "\tsort.Strings(keys)\n\tfor _, k := range keys {\n\t\tcontent = append(content, []byte(m[k])...)\n\t}\n"))
    text = text.replace('import (\n', 'import (\n\t"sort"\n', 1)
    harness.write_text(text)
    env = dict(os.environ, KRUSTY_DUMP=str(dump))
    # Tests whose plugins cannot be compiled fail; their dumps are still written.
    run(["go", "test", "-count=1", "./krusty/"], cwd=src / "api", env=env)


def build_kustomize_cli(src):
    work = "go 1.22.7\n\nuse (\n\t./api\n\t./kyaml\n\t./cmd/config\n\t./kustomize\n)\n"
    (src / "go.work").write_text(work)
    out = src / "kustomize-cli"
    res = run(["go", "build", "-o", str(out), "."], cwd=src / "kustomize")
    if res.returncode != 0:
        print("kustomize CLI build failed; examples using `kustomize edit` are skipped",
              res.stderr.decode()[-2000:], file=sys.stderr)
        return None
    return out


def keep_empty_dirs(root):
    for d, dirs, files in os.walk(root):
        if not dirs and not files:
            Path(d, ".gitkeep").write_text("")


def normalized(text):
    """Text with the run-dependent parts of a dump fixed: the test's random
    temp root and the loopback port of the Go test's HTTP server."""
    text = re.sub(r"/tmp/kustomize-\d+", "/tmp/kustomize-0", text)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:0", text)


def normalize_temp_paths(root):
    """Absolute paths into a test's random temp root (which never exist when
    the case is replayed) get one fixed name, so regenerated cases are stable."""
    for f in root.rglob("*"):
        if f.is_file() and not f.is_symlink():
            try:
                text = f.read_text()
            except (UnicodeDecodeError, OSError):
                continue
            fixed = normalized(text)
            if fixed != text:
                f.write_text(fixed)


def case_digest(d):
    """A digest of a dump's files, build path and options."""
    h = hashlib.sha256()
    for f in sorted(p for p in d.rglob("*") if p.is_file()):
        data = f.read_bytes()
        try:
            data = normalized(data.decode()).encode()
        except UnicodeDecodeError:
            pass
        h.update(str(f.relative_to(d)).encode() + b"\0" + data + b"\0")
    return h.hexdigest()


def kubectl_build(case):
    """Runs kubectl kustomize on a case; writes expected.yaml or expected-error.txt."""
    input_dir = case / "input"
    build_dir = (case / "build-dir").read_text().strip()
    args = ["kubectl", "kustomize", build_dir]
    opts = json.loads((case / "options.json").read_text()) if (case / "options.json").exists() else {}
    if opts.get("loadRestrictions") == "LoadRestrictionsNone":
        args += ["--load-restrictor", "LoadRestrictionsNone"]
    res = run(args, cwd=input_dir)
    for stale in ("expected.yaml", "expected-error.txt"):
        (case / stale).unlink(missing_ok=True)
    if res.returncode == 0:
        (case / "expected.yaml").write_bytes(res.stdout)
        return None
    err = res.stderr.decode(errors="replace")
    err = err.replace(str(input_dir.resolve()), "<input>").replace(str(input_dir), "<input>")
    err = kubectl_message(err)
    # Go pointers printed in some messages vary from run to run.
    err = re.sub(r"0xc[0-9a-f]{6,12}", "0xc000000000", err)
    (case / "expected-error.txt").write_text(err.strip() + "\n")
    return err


def kubectl_message(stderr):
    """The error message inside kubectl's klog line (`err="..."` or `err=<...>`)."""
    lines = [line for line in stderr.splitlines() if not line.startswith("# Warning:")]
    for i, line in enumerate(lines):
        m = re.match(r'^E\d{4} .*"command failed" err=(.*)$', line)
        if not m:
            continue
        rest = m.group(1)
        if rest == "<":
            body = []
            for inner in lines[i + 1:]:
                if inner.strip() == ">":
                    break
                body.append(inner[1:] if inner.startswith("\t") else inner)
            return "\n".join(body)
        try:
            return json.loads(rest)
        except ValueError:
            return rest
    text = "\n".join(lines)
    for prefix in ("Error: ", "error: "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def add_case(out, name, input_src, build_dir, options, skipped):
    case = out / name
    if case.exists():
        shutil.rmtree(case)
    shutil.copytree(input_src, case / "input", symlinks=True)
    keep_empty_dirs(case / "input")
    normalize_temp_paths(case / "input")
    (case / "build-dir").write_text(build_dir + "\n")
    if options:
        (case / "options.json").write_text(json.dumps(options, indent=2, sort_keys=True) + "\n")
    err = kubectl_build(case)
    if err is not None and re.search(r"dial tcp|Could not resolve host|Couldn't connect to server", err):
        skipped.append((name, "needs the network (kubectl tried to fetch a URL)"))
        shutil.rmtree(case)
        return
    if err is not None and (options.get("pluginsEnabled") or options.get("helmEnabled")):
        low = err.lower()
        for frag, reason in PLUGIN_ERRORS:
            if frag in low:
                skipped.append((name, reason))
                shutil.rmtree(case)
                return


def numbered_dumps(dump):
    """(name, dir) per dump: a test's builds are numbered in the order of
    their content digests (table-driven tests run their cases in Go map
    order, which varies), identical builds counted once."""
    groups = {}
    for d in dump.iterdir():
        base = re.sub(r"__\d+$", "", d.name)
        groups.setdefault(base, {}).setdefault(case_digest(d), d)
    for base in sorted(groups):
        for i, digest in enumerate(sorted(groups[base]), 1):
            yield (base + (f"__{i}" if i > 1 else "")), groups[base][digest]


def port_krusty(dump, out, skipped):
    for name, d in numbered_dumps(dump):
        file = name.split("__")[0]
        test = "__".join(name.split("__")[:2])
        if file in SKIP_FILES:
            skipped.append((name, SKIP_FILES[file]))
            continue
        if test in SKIP_TESTS:
            skipped.append((name, SKIP_TESTS[test]))
            continue
        if (d / "on-disk-outside-tmp").exists():
            skipped.append((name, "builds a directory outside the test's temporary root"))
            continue
        options = json.loads((d / "options.json").read_text())
        build_dir = (d / "build-dir").read_text().strip()
        add_case(out, name, d / "input", build_dir, options, skipped)


SANDBOX_PRELUDE = r'''
set -u -a
export PATH="$SANDBOX_BIN:$PATH"
'''

CURL_STUB = r'''#!/usr/bin/env python3
# Serves raw.githubusercontent.com/kubernetes-sigs/kustomize/<ref>/<path> from
# the unpacked tag; anything else fails (no network).
import os, re, sys
args = sys.argv[1:]
out = None; urls = []; i = 0
while i < len(args):
    a = args[i]
    if a == "-o": out = args[i + 1]; i += 2; continue
    if a.startswith("-"): i += 1; continue
    urls.append(a); i += 1
def expand(u):
    m = re.search(r"\{([^}]*)\}", u)
    if not m: return [(u, None)]
    return [(u[:m.start()] + alt + u[m.end():], alt) for alt in m.group(1).split(",")]
src = os.environ["KUSTOMIZE_SRC"]
for url in urls:
    for u, alt in expand(url):
        m = re.match(r"https://raw\.githubusercontent\.com/kubernetes-sigs/kustomize/[^/]+/(.*)", u)
        if not m:
            sys.stderr.write("network access refused: " + u + "\n"); sys.exit(7)
        data = open(os.path.join(src, m.group(1)), "rb").read()
        if out is None:
            sys.stdout.buffer.write(data)
        else:
            target = out.replace("#1", alt) if alt is not None else out
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            open(target, "wb").write(data)
'''

KUBECTL_STUB = r'''#!/bin/sh
# Only `kubectl kustomize` is allowed in a walkthrough; nothing reaches a cluster.
if [ "$1" = kustomize ]; then exec /usr/bin/kubectl "$@"; fi
echo "kubectl $1: no cluster in the sandbox" >&2; exit 1
'''

MKTEMP_STUB = r'''#!/bin/sh
# Deterministic temporary directories under the sandbox home.
n=0; while [ -e "$TMPDIR/demo$n" ]; do n=$((n+1)); done
if [ "${1:-}" = -d ]; then mkdir -p "$TMPDIR/demo$n"; else touch "$TMPDIR/demo$n"; fi
echo "$TMPDIR/demo$n"
'''

KUSTOMIZE_STUB = r'''#!/bin/sh
# `kustomize build DIR`: record DIR as a case and print kubectl's output;
# anything else: the kustomize CLI built from the tag.
if [ "$1" = build ]; then
  shift
  dir=""
  for a in "$@"; do case "$a" in -*) ;; *) dir="$a";; esac; done
  [ -z "$dir" ] && dir=.
  # Walkthroughs assume the reader stands in $DEMO_HOME.
  if [ ! -d "$dir" ] && [ -n "${DEMO_HOME:-}" ] && [ -d "$DEMO_HOME/$dir" ]; then dir="$DEMO_HOME/$dir"; fi
  # Concurrent builds (diff <(kustomize build a) <(kustomize build b)) take
  # their number under a lock.
  while ! mkdir "$RECORD_DIR/lock" 2>/dev/null; do sleep 0.01; done
  n=$(cat "$RECORD_DIR/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$RECORD_DIR/count"
  rmdir "$RECORD_DIR/lock"
  (cd "$dir" 2>/dev/null && pwd) > "$RECORD_DIR/build-$n" || echo "missing:$dir" > "$RECORD_DIR/build-$n"
  mkdir -p "$RECORD_DIR/snap-$n" && cp -a / "$RECORD_DIR/snap-$n" 2>/dev/null
  exec /usr/bin/kubectl kustomize "$dir"
fi
if [ -z "${KUSTOMIZE_CLI:-}" ]; then echo "kustomize CLI unavailable" >&2; exit 3; fi
exec "$KUSTOMIZE_CLI" "$@"
'''


def md_blocks(text):
    """The shell code blocks of a walkthrough, in order."""
    # mdrip runs the blocks labelled by an `<!-- @name ... -->` comment.
    labelled = [m.group(1) for m in
                re.finditer(r"<!--\s*@[^>]*-->\s*\n```[a-z]*\n(.*?)```", text, re.S)]
    if labelled:
        return labelled
    return [m.group(1) for m in re.finditer(r"```(?:sh|bash|shell)\n(.*?)```", text, re.S)]


def port_examples(src, out, skipped, cli):
    for md in sorted((src / "examples").glob("**/*.md")):
        rel = md.relative_to(src / "examples")
        if rel.parts[0] in ("zh", "alphaTestExamples"):
            continue
        doc = re.sub(r"[^A-Za-z0-9]+", "_", str(rel.with_suffix(""))).strip("_")
        text = md.read_text()
        script = "\n".join(md_blocks(text))
        if "kustomize build" not in script:
            continue
        reason = None
        joined = script.replace("\\\n", "")
        if re.search(r"https?://(?!raw\.githubusercontent\.com/kubernetes-sigs/kustomize/)", joined):
            reason = "fetches from the network"
        elif "github.com/" in script and "build github.com" in script.replace("\\\n", " "):
            reason = "builds a remote git base (network)"
        elif "helm" in script.lower():
            reason = "helm chart inflation (needs helm)"
        elif "enable-alpha-plugins" in joined or "enable_alpha_plugins" in joined:
            reason = "Go/exec plugins"
        if reason:
            skipped.append((f"examples__{doc}", reason))
            continue
        with tempfile.TemporaryDirectory() as sandbox_s:
            sandbox = Path(sandbox_s)
            bin_dir = sandbox / "bin"
            bin_dir.mkdir()
            record = sandbox / "record"
            record.mkdir()
            home = sandbox / "home"
            home.mkdir()
            (bin_dir / "curl").write_text(CURL_STUB)
            (bin_dir / "mktemp").write_text(MKTEMP_STUB)
            (bin_dir / "kubectl").write_text(KUBECTL_STUB)
            stub = KUSTOMIZE_STUB.replace("cp -a / ", f"cp -a {home}/. ")
            (bin_dir / "kustomize").write_text(stub)
            for f in bin_dir.iterdir():
                f.chmod(0o755)
            env = dict(os.environ, SANDBOX_BIN=str(bin_dir), RECORD_DIR=str(record),
                       KUSTOMIZE_SRC=str(src), HOME=str(home), TMPDIR=str(home))
            if cli:
                env["KUSTOMIZE_CLI"] = str(cli)
            env.pop("DEMO_HOME", None)
            res = run(["bash", "-c", SANDBOX_PRELUDE + script], cwd=home, env=env)
            builds = sorted(record.glob("build-*"), key=lambda p: int(p.name.split("-")[1]))
            if not builds:
                tail = res.stderr.decode(errors="replace").strip().splitlines()[-1:]
                skipped.append((f"examples__{doc}", "walkthrough script did not reach a build: "
                                + (tail[0] if tail else "")))
                continue
            names = {}
            for i, b in enumerate(builds, 1):
                # Named by the directory built (concurrent builds in one
                # command line record in varying order), then by content.
                built = b.read_text().strip()
                slug = re.sub(r"[^A-Za-z0-9]+", "_", built.split("/demo", 1)[-1]).strip("_")
                key = (slug, case_digest(record / f"snap-{i}"))
                if key in names:
                    continue
                n = sum(1 for k in names if k[0] == slug) + 1
                names[key] = True
                name = f"examples__{doc}__{slug}" + (f"__{n}" if n > 1 else "")
                if b.read_text().startswith("missing:"):
                    skipped.append((name, "walkthrough builds a directory its script never creates: "
                                    + b.read_text().strip()[8:]))
                    continue
                target = Path(b.read_text().strip())
                snap = record / f"snap-{i}"
                try:
                    rel_dir = target.relative_to(home)
                except ValueError:
                    skipped.append((name, f"builds outside the walkthrough's home: {target}"))
                    continue
                add_case(out, name, snap, str(rel_dir) or ".", {}, skipped)


def port_example_trees(src, out, skipped):
    """Each kustomization checked into examples/<example>/ is a case too."""
    examples = src / "examples"
    for kfile in sorted(examples.glob("**/kustomization.yaml")):
        rel = kfile.parent.relative_to(examples)
        if rel.parts[0] in ("zh", "alphaTestExamples"):
            continue
        name = "examples_tree__" + re.sub(r"[^A-Za-z0-9]+", "_", str(rel)).strip("_")
        top = examples / rel.parts[0]
        build_dir = str(Path(*rel.parts[1:])) if len(rel.parts) > 1 else "."
        add_case(out, name, top, build_dir, {}, skipped)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mirror")
    ap.add_argument("--tag", default="kustomize/v5.5.0")
    ap.add_argument("--no-examples", action="store_true")
    ap.add_argument("--examples-only", action="store_true",
                    help="regenerate only the examples__* cases (keeps SKIPPED.md's krusty rows)")
    args = ap.parse_args()
    out = HERE
    for old in out.iterdir():
        if old.is_dir() and (old / "input").is_dir():
            if not args.examples_only or old.name.startswith("examples_"):
                shutil.rmtree(old)
    skipped = []
    if args.examples_only:
        for line in (out / "SKIPPED.md").read_text().splitlines():
            m = re.match(r"\| `([^`]+)` \| (.*) \|$", line)
            if m and not m.group(1).startswith("examples_"):
                skipped.append((m.group(1), m.group(2)))
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        src = tmp / "src"
        src.mkdir()
        unpack(args.mirror, args.tag, src)
        if not args.examples_only:
            dump = tmp / "dump"
            dump.mkdir()
            dump_krusty(src, dump)
            port_krusty(dump, out, skipped)
        if not args.no_examples:
            cli = build_kustomize_cli(src)
            port_examples(src, out, skipped, cli)
            port_example_trees(src, out, skipped)
    lines = ["# Skipped kustomize cases", "",
             f"Cases of kustomize `{args.tag}` not ported, and why (generated by `port.py`).", "",
             "| case | reason |", "|---|---|"]
    lines += [f"| `{n}` | {r} |" for n, r in sorted(skipped)]
    (out / "SKIPPED.md").write_text("\n".join(lines) + "\n")
    cases = [d for d in out.iterdir() if (d / "input").is_dir()]
    errs = sum(1 for d in cases if (d / "expected-error.txt").exists())
    print(f"{len(cases)} cases ({errs} where kubectl fails), {len(skipped)} skipped")


if __name__ == "__main__":
    main()
