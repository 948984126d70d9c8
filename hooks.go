package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Hook results as Ganeti reports them.
const (
	hookSkip    = 0
	hookFail    = 1
	hookSuccess = 2

	// hookTimeout bounds one hook script; Ganeti has none, but a hung hook
	// would hold the master's job for ever.
	hookTimeout = time.Hour
)

// rpcHooksRunner runs the executable scripts of
// /etc/ganeti/hooks/<hpath>-<phase>.d in name order with exactly the
// environment the master sent: [hpath, phase, env]. The result lists
// [subdir/script, status, output].
func rpcHooksRunner(n *node, args []json.RawMessage) (any, error) {
	var hpath, phase string
	var env map[string]string
	if err := decodeArgs(args, &hpath, &phase, &env); err != nil {
		return nil, err
	}
	if phase != "pre" && phase != "post" {
		return nil, fmt.Errorf("Unknown hooks phase '%s'", phase)
	}
	if !pluginName.MatchString(hpath) {
		return nil, fmt.Errorf("Invalid hooks path '%s'", hpath)
	}
	subdir := hpath + "-" + phase + ".d"
	var envList []string
	for k, v := range env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("Invalid hook environment variable '%s'", k)
		}
		envList = append(envList, k+"="+v)
	}
	results := []any{}
	for _, run := range n.runParts(filepath.Join(n.paths.HooksBaseDir, subdir), envList, hookTimeout) {
		results = append(results, []any{subdir + "/" + run.name, run.status, run.output})
	}
	return results, nil
}

// partResult is one script of a run-parts directory.
type partResult struct {
	name   string
	status int
	output string
}

// runParts runs the executable, properly named, visible files of dir in
// sorted order, each with env only; others are reported as skipped. A
// missing directory runs nothing.
func (n *node) runParts(dir string, env []string, timeout time.Duration) []partResult {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			n.log.Warningf("RunParts: skipping %s (cannot list: %v)", dir, err)
		}
		return nil
	}
	names := []string{}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var results []partResult
	for _, name := range names {
		path := filepath.Join(dir, name)
		if !pluginName.MatchString(name) || !isExecutableFile(path) {
			results = append(results, partResult{name, hookSkip, ""})
			continue
		}
		res, err := n.runCommand(command{Args: []string{path}, Env: env, Reset: true, Dir: "/", Timeout: timeout})
		switch {
		case res == nil:
			results = append(results, partResult{name, hookFail, fmt.Sprintf("Hook script execution error: %v", err)})
		case err != nil:
			results = append(results, partResult{name, hookFail, safeEncode(strings.TrimSpace(res.Output))})
		default:
			results = append(results, partResult{name, hookSuccess, safeEncode(strings.TrimSpace(res.Output))})
		}
	}
	return results
}

// isExecutableFile is a regular file (after symlinks) with an execute bit.
func isExecutableFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

const iallocatorTimeout = 30 * time.Minute

// rpcIallocatorRunner runs an allocator with its input in a temporary file:
// [name, input, {option: value or null}] → the allocator's standard output.
func rpcIallocatorRunner(n *node, args []json.RawMessage) (any, error) {
	var name, input string
	var params map[string]*string
	if err := decodeArgs(args, &name, &input, &params); err != nil {
		return nil, err
	}
	if !pluginName.MatchString(name) {
		return nil, fmt.Errorf("iallocator module '%s' not found in the search path", name)
	}
	script := ""
	for _, dir := range n.paths.IallocatorSearchPath {
		if p := filepath.Join(dir, name); fileIsRegular(p) {
			script = p
			break
		}
	}
	if script == "" {
		return nil, fmt.Errorf("iallocator module '%s' not found in the search path", name)
	}
	tmp, err := os.CreateTemp("", "ganeti-iallocator.")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(input)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	argv := []string{script, tmp.Name()}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !optionName.MatchString(k) {
			return nil, fmt.Errorf("invalid iallocator option '%s'", k)
		}
		if v := params[k]; v != nil {
			argv = append(argv, "--"+k+"="+*v)
		} else {
			argv = append(argv, "--"+k)
		}
	}
	res, err := n.runCommand(command{Args: argv, Timeout: iallocatorTimeout})
	if err != nil {
		return nil, fmt.Errorf("iallocator module '%s' failed: %v", name, err)
	}
	return res.Stdout, nil
}

func fileIsRegular(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// safeEncode makes hook output printable ASCII the way Ganeti does:
// non-ASCII runes as \xNN, \uNNNN or \UNNNNNNNN, tab and newline as \t and
// \n, carriage return as \'r (sic), other control bytes as \xNN.
func safeEncode(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\'r`)
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case r < 32 || r == 127:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 127:
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	return b.String()
}
