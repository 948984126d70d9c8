package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// osAPIVersions are the OS API versions Ganeti 3.0 speaks.
var osAPIVersions = []int{10, 15, 20}

// osDefinition is a valid OS found on disk.
type osDefinition struct {
	Name, Path      string
	Scripts         map[string]string // script name → path, for those present
	Variants        []string
	Parameters      [][]string // [name, help]
	APIVersions     []int
	CreateUntrusted bool
}

// pyIntList formats ints as Python prints a list.
func pyIntList(v []int) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.Itoa(x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// errnoName is Ganeti's ErrnoOrStr: the errno symbol when there is one.
func errnoName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ENOENT:
			return "ENOENT"
		case syscall.EACCES:
			return "EACCES"
		case syscall.ENOTDIR:
			return "ENOTDIR"
		case syscall.ELOOP:
			return "ELOOP"
		}
	}
	return err.Error()
}

// loadOS reads and validates the OS definition in dir/name.
func loadOS(dir, name string) (*osDefinition, error) {
	osDir := filepath.Join(dir, name)
	if !pluginName.MatchString(name) || !isDir(osDir) {
		return nil, fmt.Errorf("Directory for OS %s not found in search path", name)
	}
	versions, maxAPI, err := readOSAPIVersions(osDir)
	if err != nil {
		return nil, err
	}
	def := &osDefinition{Name: name, Path: osDir, Scripts: map[string]string{}, APIVersions: versions}
	present, err := findOSFiles(osDir, osFilesFor(maxAPI), def)
	if err != nil {
		return nil, err
	}
	if present["create"] == "" && present["create_untrusted"] == "" {
		return nil, fmt.Errorf("A create script (trusted or untrusted) under path '%s' must exist", osDir)
	}
	def.CreateUntrusted = present["create_untrusted"] != ""
	def.Variants = []string{}
	if p := present["variants.list"]; p != "" {
		if def.Variants, err = readOSVariants(p); err != nil {
			return nil, err
		}
	}
	def.Parameters = [][]string{}
	if p := present["parameters.list"]; p != "" {
		data, err := readFileLimited(p, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("Error while reading the OS parameters file at %s: %s", p, errnoName(err))
		}
		def.Parameters = parseParametersList(data)
	}
	return def, nil
}

// readOSAPIVersions reads ganeti_api_version, one version a line, and
// refuses an OS that speaks none of Ganeti's; maxAPI decides which
// files the OS must have.
func readOSAPIVersions(osDir string) (versions []int, maxAPI int, err error) {
	apiFile := filepath.Join(osDir, "ganeti_api_version")
	st, err := os.Stat(apiFile)
	if err != nil {
		return nil, 0, fmt.Errorf("Required file 'ganeti_api_version' not found under path %s: %s", osDir, errnoName(err))
	}
	if !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("File 'ganeti_api_version' in %s is not a regular file", osDir)
	}
	data, err := readFileLimited(apiFile, 4096)
	if err != nil {
		return nil, 0, fmt.Errorf("Error while reading the API version file at %s: %s", apiFile, errnoName(err))
	}
	var lines []string // as Python's splitlines: none for an empty file
	if text := strings.TrimSuffix(string(data), "\n"); len(data) > 0 {
		lines = strings.Split(text, "\n")
	}
	for _, line := range lines {
		v, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			return nil, 0, fmt.Errorf("API version(s) can't be converted to integer: invalid literal for int() with base 10: '%s'", strings.TrimSpace(line))
		}
		versions = append(versions, v)
	}
	supported := false
	for _, v := range versions {
		maxAPI = max(maxAPI, v)
		for _, w := range osAPIVersions {
			supported = supported || v == w
		}
	}
	if !supported {
		return nil, 0, fmt.Errorf("API version mismatch for path '%s': found %s, want frozenset({10, 15, 20}).", osDir, pyIntList(versions))
	}
	return versions, maxAPI, nil
}

// osFile is one file an OS definition may or must have.
type osFile struct {
	name     string
	required bool
	script   bool
}

// osFilesFor lists the files of an OS of the given API version, in the
// order Ganeti checks them (its first complaint is the one reported).
func osFilesFor(maxAPI int) []osFile {
	files := []osFile{{"create", false, true}, {"create_untrusted", false, true}, {"export", true, true},
		{"import", true, true}, {"rename", true, true}}
	if maxAPI >= 20 {
		files = append(files, osFile{"verify", true, true})
	}
	if maxAPI >= 15 {
		files = append(files, osFile{"variants.list", false, false})
	}
	if maxAPI >= 20 {
		files = append(files, osFile{"parameters.list", true, false})
	}
	return files
}

// findOSFiles checks the OS's files, records its scripts in def and
// returns the path of each file present.
func findOSFiles(osDir string, files []osFile, def *osDefinition) (map[string]string, error) {
	present := map[string]string{}
	for _, f := range files {
		path := filepath.Join(osDir, f.name)
		st, err := os.Stat(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && !f.required {
				continue
			}
			return nil, fmt.Errorf("File '%s' under path '%s' is missing (%s)", f.name, osDir, errnoName(err))
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("File '%s' under path '%s' is not a regular file", f.name, osDir)
		}
		if f.script && st.Mode().Perm()&0o100 == 0 {
			return nil, fmt.Errorf("File '%s' under path '%s' is not executable", f.name, osDir)
		}
		present[f.name] = path
		if f.script {
			def.Scripts[f.name] = path
		}
	}
	return present, nil
}

// readOSVariants reads variants.list, skipping blank and comment lines.
func readOSVariants(path string) ([]string, error) {
	data, err := readFileLimited(path, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("Error while reading the OS variants file at %s: %s", path, errnoName(err))
	}
	variants := []string{}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			variants = append(variants, line)
		}
	}
	return variants, nil
}

// diagnoseOS lists every entry of the OS search path with its status, as
// [name, path, ok, message, variants, parameters, api_versions, trusted].
func (n *node) diagnoseOS() []any {
	result := []any{}
	for _, dir := range n.paths.OSSearchPath {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") {
				continue
			}
			path := filepath.Join(dir, name)
			def, err := loadOS(dir, name)
			if err != nil {
				result = append(result, []any{name, path, false, err.Error(), []string{}, [][]string{}, []int{}, true})
				continue
			}
			result = append(result, []any{name, path, true, "", def.Variants, def.Parameters, def.APIVersions, !def.CreateUntrusted})
		}
	}
	return result
}

// rpcOSDiagnose: [] → every OS definition on the OS search path, valid
// or not, in Ganeti's tuple.
func rpcOSDiagnose(n *node, args []json.RawMessage) (any, error) {
	if err := decodeArgs(args); err != nil {
		return nil, err
	}
	return n.diagnoseOS(), nil
}

// findOS loads an OS definition by name from the first search-path
// directory that has it.
func (n *node) findOS(name string) (*osDefinition, error) {
	if !pluginName.MatchString(name) {
		return nil, fmt.Errorf("Directory for OS %s not found in search path", name)
	}
	for _, dir := range n.paths.OSSearchPath {
		if isDir(filepath.Join(dir, name)) {
			return loadOS(dir, name)
		}
	}
	return nil, fmt.Errorf("Directory for OS %s not found in search path", name)
}

// splitOSName splits "name+variant".
func splitOSName(full string) (name, variant string) {
	name, variant, _ = strings.Cut(full, "+")
	return name, variant
}

// checkOSVariant refuses a variant the OS does not list.
func checkOSVariant(def *osDefinition, full string) error {
	_, variant := splitOSName(full)
	if len(def.Variants) == 0 {
		if variant != "" {
			return fmt.Errorf("OS '%s' does not support variants ('%s' passed)", def.Name, variant)
		}
		return nil
	}
	if variant == "" {
		return fmt.Errorf("OS name '%s' must include a variant", full)
	}
	if !slices.Contains(def.Variants, variant) {
		return fmt.Errorf("OS '%s' does not support variant '%s'", def.Name, variant)
	}
	return nil
}

// osCoreEnv is the environment every OS script gets.
func osCoreEnv(full string, def *osDefinition, osparams map[string]any) []string {
	api := 0
	for _, v := range def.APIVersions {
		if slices.Contains(osAPIVersions, v) {
			api = max(api, v)
		}
	}
	variant := ""
	if api >= 15 && len(def.Variants) > 0 {
		if _, variant = splitOSName(full); variant == "" {
			variant = def.Variants[0]
		}
	}
	env := []string{"OS_API_VERSION=" + strconv.Itoa(api), "OS_NAME=" + def.Name, "DEBUG_LEVEL=0",
		"OS_VARIANT=" + variant, "PATH=/sbin:/bin:/usr/sbin:/usr/bin"}
	for k, v := range osparams {
		env = append(env, "OSP_"+strings.ReplaceAll(strings.ToUpper(k), "-", "_")+"="+pyStr(v))
	}
	return env
}

const osScriptTimeout = time.Hour

// rpcOSValidate runs an OS's verify script: [required, name, checks,
// osparams, force_variant] → true, or false when a not-required OS is
// missing.
func rpcOSValidate(n *node, args []json.RawMessage) (any, error) {
	var required, forceVariant bool
	var full string
	var checks []string
	var osparams map[string]any
	if err := decodeArgs(args, &required, &full, &checks, &osparams, &forceVariant); err != nil {
		return nil, err
	}
	var unknown []string
	for _, c := range checks {
		if c != "parameters" {
			unknown = append(unknown, c)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("Unknown checks required for OS %s: %s", full, strings.Join(unknown, ", "))
	}
	name, _ := splitOSName(full)
	def, err := n.findOS(name)
	if err != nil {
		if required {
			return nil, err
		}
		return false, nil
	}
	if !forceVariant {
		if err := checkOSVariant(def, full); err != nil {
			return nil, err
		}
	}
	if slices.Max(def.APIVersions) < 20 {
		return true, nil
	}
	if slices.Contains(checks, "parameters") {
		var bad []string
		for k := range osparams {
			known := false
			for _, p := range def.Parameters {
				known = known || (len(p) > 0 && p[0] == k)
			}
			if !known {
				bad = append(bad, k)
			}
		}
		if len(bad) > 0 {
			slices.Sort(bad)
			return nil, fmt.Errorf("The following parameters are not supported by the OS %s: %s", def.Name, strings.Join(bad, ", "))
		}
	}
	res, err := n.runCommand(command{Args: append([]string{def.Scripts["verify"]}, checks...), Env: osCoreEnv(full, def, osparams),
		Reset: true, Dir: def.Path, Timeout: osScriptTimeout})
	if err != nil {
		return nil, fmt.Errorf("OS validation script failed (%s), output: %s", exitReason(res, err), outputOf(res, err))
	}
	return true, nil
}

// parseParametersList reads a parameters.list: per line a name and its
// help text, split at the first run of blanks.
func parseParametersList(data []byte) [][]string {
	params := [][]string{}
	if len(data) == 0 {
		return params
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			params = append(params, []string{})
			continue
		}
		rest := strings.TrimLeft(strings.TrimPrefix(strings.TrimLeft(line, " \t\r\v\f"), fields[0]), " \t\r\v\f")
		if rest == "" {
			params = append(params, []string{fields[0]})
		} else {
			params = append(params, []string{fields[0], rest})
		}
	}
	return params
}
