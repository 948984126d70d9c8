package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// exportConfFile describes an export (Ganeti's config.ini).
const exportConfFile = "config.ini"

// rpcExportList names the exports in the export directory.
func rpcExportList(n *node, args []json.RawMessage) (any, error) {
	if err := decodeArgs(args); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(n.paths.ExportDir)
	if err != nil {
		return nil, errors.New("No exports directory")
	}
	names := []string{}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// rpcExportInfo returns an export's config.ini: [export directory]. It
// must have the export and instance sections.
func rpcExportInfo(n *node, args []json.RawMessage) (any, error) {
	var dir string
	if err := decodeArgs(args, &dir); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(dir) || strings.Contains(dir, "/../") || strings.HasSuffix(dir, "/..") {
		return nil, fmt.Errorf("Invalid export directory '%s'", dir)
	}
	data, _ := readFileLimited(filepath.Join(filepath.Clean(dir), exportConfFile), 16<<20)
	sections := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			sections[strings.TrimSpace(line[1:len(line)-1])] = true
		}
	}
	if !sections["export"] || !sections["instance"] {
		return nil, errors.New("Export info file doesn't have the required fields")
	}
	return string(data), nil
}

// rpcExportRemove deletes one export: [name].
func rpcExportRemove(n *node, args []json.RawMessage) (any, error) {
	var name string
	if err := decodeArgs(args, &name); err != nil {
		return nil, err
	}
	if !isPlainName(name) {
		return nil, fmt.Errorf("Invalid export name '%s'", name)
	}
	target := filepath.Join(n.paths.ExportDir, name)
	if _, err := os.Lstat(target); err != nil {
		return nil, fmt.Errorf("Error while removing the export: %v", err)
	}
	if err := os.RemoveAll(target); err != nil {
		return nil, fmt.Errorf("Error while removing the export: %v", err)
	}
	return nil, nil
}
