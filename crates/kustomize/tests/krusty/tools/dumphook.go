// Injected into kustomize's api/krusty package by port.py (never built by
// cargo). Every Kustomizer.Run call made by a krusty test writes the test's
// whole filesystem, the build path and the options to $KRUSTY_DUMP/<case>/.

package krusty

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

var dumpMu sync.Mutex
var dumpSeen = map[string]int{}
var dumpUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func dumpCaller() (string, string) {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.File, "_test.go") {
			fn := f.Function[strings.LastIndex(f.Function, ".")+1:]
			// Test function: the outermost frame named Test* in a _test.go file.
			full := f.Function
			if i := strings.Index(full, ".Test"); i >= 0 {
				name := full[i+1:]
				if j := strings.Index(name, "."); j >= 0 {
					name = name[:j]
				}
				file := strings.TrimSuffix(filepath.Base(f.File), "_test.go")
				return file, name
			}
			_ = fn
		}
		if !more {
			break
		}
	}
	return "unknown", "unknown"
}

func dumpCase(fSys filesys.FileSystem, path string, o *Options) {
	out := os.Getenv("KRUSTY_DUMP")
	if out == "" {
		return
	}
	dumpMu.Lock()
	defer dumpMu.Unlock()
	file, test := dumpCaller()
	base := file + "__" + dumpUnsafe.ReplaceAllString(test, "_")
	dumpSeen[base]++
	name := base
	if dumpSeen[base] > 1 {
		name = fmt.Sprintf("%s__%d", base, dumpSeen[base])
	}
	dir := filepath.Join(out, name)
	input := filepath.Join(dir, "input")
	_ = os.MkdirAll(input, 0o755)
	root := "/"
	onDisk := strings.Contains(fmt.Sprintf("%T", fSys), "OnDisk")
	if onDisk {
		tmp := os.TempDir()
		if !strings.HasPrefix(path, tmp+"/") {
			_ = os.WriteFile(filepath.Join(dir, "on-disk-outside-tmp"), []byte(path), 0o644)
			return
		}
		rest := strings.TrimPrefix(path, tmp+"/")
		root = filepath.Join(tmp, strings.SplitN(rest, "/", 2)[0])
	}
	_ = fSys.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info == nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		target := filepath.Join(input, rel)
		if info.IsDir() {
			_ = os.MkdirAll(target, 0o755)
			return nil
		}
		data, rerr := fSys.ReadFile(p)
		if rerr != nil {
			return nil
		}
		_ = os.MkdirAll(filepath.Dir(target), 0o755)
		_ = os.WriteFile(target, data, 0o644)
		return nil
	})
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join("/", abs)
	}
	rel, _ := filepath.Rel(root, abs)
	_ = os.WriteFile(filepath.Join(dir, "build-dir"), []byte(rel+"\n"), 0o644)
	meta := map[string]interface{}{
		"reorder":          string(o.Reorder),
		"managedByLabel":   o.AddManagedbyLabel,
		"loadRestrictions": o.LoadRestrictions.String(),
		"onDisk":           onDisk,
	}
	if o.PluginConfig != nil {
		meta["pluginsEnabled"] = o.PluginConfig.PluginRestrictions.String() == "PluginRestrictionsNone"
		meta["helmEnabled"] = o.PluginConfig.HelmConfig.Enabled
		meta["execEnabled"] = o.PluginConfig.FnpLoadingOptions.EnableExec
	}
	data, _ := json.MarshalIndent(meta, "", "  ")
	_ = os.WriteFile(filepath.Join(dir, "options.json"), append(data, '\n'), 0o644)
}
