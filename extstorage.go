package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// esFiles are a provider's files in a fixed order (required ones true).
var esFiles = []struct {
	name     string
	required bool
}{{"attach", true}, {"close", false}, {"create", true}, {"detach", true}, {"grow", true}, {"open", false},
	{"remove", true}, {"setinfo", true}, {"snapshot", false}, {"verify", true}, {"parameters.list", true}}

// checkExtStorage validates one provider and returns its parameters.
func checkExtStorage(dir, name string) ([][]string, error) {
	esDir := filepath.Join(dir, name)
	if !isDir(esDir) {
		return nil, fmt.Errorf("Directory for External Storage Provider %s not found in search path", name)
	}
	for _, f := range esFiles {
		st, err := os.Stat(filepath.Join(esDir, f.name))
		if err != nil {
			if !f.required {
				continue
			}
			return nil, fmt.Errorf("File '%s' under path '%s' is missing (%s)", f.name, esDir, errnoName(err))
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("File '%s' under path '%s' is not a regular file", f.name, esDir)
		}
		if f.name != "parameters.list" && st.Mode().Perm()&0o100 == 0 {
			return nil, fmt.Errorf("File '%s' under path '%s' is not executable", f.name, esDir)
		}
	}
	data, err := readFileLimited(filepath.Join(esDir, "parameters.list"), 1<<20)
	if err != nil {
		return nil, fmt.Errorf("Error while reading the EXT parameters file at %s: %s", filepath.Join(esDir, "parameters.list"), errnoName(err))
	}
	return parseParametersList(data), nil
}

// rpcExtStorageDiagnose lists every provider in the search path as
// [name, path, ok, message, parameters].
func rpcExtStorageDiagnose(n *node, args []json.RawMessage) (any, error) {
	if err := decodeArgs(args); err != nil {
		return nil, err
	}
	result := []any{}
	for _, dir := range n.paths.ExtStorageSearchPath {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			params, err := checkExtStorage(dir, e.Name())
			if err != nil {
				result = append(result, []any{e.Name(), filepath.Join(dir, e.Name()), false, err.Error(), [][]string{}})
				continue
			}
			result = append(result, []any{e.Name(), filepath.Join(dir, e.Name()), true, "", params})
		}
	}
	return result, nil
}
