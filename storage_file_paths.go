package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// forbiddenFileStoragePrefixes may never hold instance files: the system's
// own directories (Ganeti's list).
var forbiddenFileStoragePrefixes = []string{
	"/boot", "/dev", "/etc", "/home", "/proc", "/root", "/sys",
	"/bin", "/lib", "/lib32", "/lib64", "/sbin",
	"/usr/bin", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/sbin",
	"/usr/local/bin", "/usr/local/lib", "/usr/local/lib32", "/usr/local/lib64", "/usr/local/sbin",
}

// isBelowOrEqual tells whether path is dir or inside it (both clean).
func isBelowOrEqual(dir, path string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

func isForbiddenFileStoragePath(path string) bool {
	if !filepath.IsAbs(path) {
		return true
	}
	for _, p := range forbiddenFileStoragePrefixes {
		if isBelowOrEqual(p, path) {
			return true
		}
	}
	return false
}

// allowedFileStoragePaths reads /etc/ganeti/file-storage-paths: one path a
// line, comments and blank lines skipped, each cleaned.
func (n *node) allowedFileStoragePaths() []string {
	data, err := readFileLimited(n.paths.FileStoragePathsFile, 1<<20)
	if err != nil {
		return nil
	}
	var paths []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		paths = append(paths, filepath.Clean(line))
	}
	return paths
}

// forbiddenAllowedPaths lists entries of the paths file that are relative
// or system directories (node_verify reports them).
func (n *node) forbiddenAllowedPaths() []string {
	bad := []string{}
	for _, p := range n.allowedFileStoragePaths() {
		if isForbiddenFileStoragePath(p) {
			bad = append(bad, p)
		}
	}
	sort.Strings(bad)
	return bad
}

// checkFileStoragePath says why a directory cannot hold file disks, or
// returns nil: it must be listed in the paths file (or lie below a listed
// path), outside the system's directories, an existing writable directory.
func (n *node) checkFileStoragePath(path string) error {
	allowed := n.allowedFileStoragePaths()
	if len(allowed) == 0 {
		return fmt.Errorf("No paths are valid or path file '%s' was not accessible.", n.paths.FileStoragePathsFile)
	}
	clean := filepath.Clean(path)
	if isForbiddenFileStoragePath(clean) {
		return fmt.Errorf("Path '%s' uses a forbidden prefix", path)
	}
	ok := false
	for _, a := range allowed {
		if filepath.IsAbs(a) && isBelowOrEqual(a, clean) {
			ok = true
			break
		}
	}
	if !ok {
		return fmt.Errorf("Path '%s' is not acceptable for file storage", path)
	}
	if st, err := os.Stat(clean); err != nil || !st.IsDir() {
		return fmt.Errorf("Path '%s' is not existing or not a directory.", path)
	}
	if err := syscall.Access(clean, 2); err != nil {
		return fmt.Errorf("Path '%s' is not writable", path)
	}
	return nil
}

// clusterStorageDirs are the cluster's file, shared-file and gluster
// storage directories from ssconf (those that are set).
func (n *node) clusterStorageDirs() []string {
	var dirs []string
	for _, key := range []string{"file_storage_dir", "shared_file_storage_dir", "gluster_storage_dir"} {
		if v, err := n.paths.readSsconf(key); err == nil && strings.TrimSpace(v) != "" {
			dirs = append(dirs, filepath.Clean(n.paths.localize(strings.TrimSpace(v))))
		}
	}
	return dirs
}

// resolveExisting follows symlinks in the longest existing prefix of path
// and appends the rest, so that a link cannot lead a path elsewhere.
func resolveExisting(path string) string {
	rest := ""
	for p := path; ; p = filepath.Dir(p) {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(real, rest)
		}
		if p == "/" || p == "." {
			return path
		}
		rest = filepath.Join(filepath.Base(p), rest)
	}
}

// checkStoragePath accepts a path for file-based disks and their
// directories only if it is absolute without "..", lies below a path
// listed in /etc/ganeti/file-storage-paths (outside the system's own
// directories), below one of the cluster's storage directories when ssconf
// names them, and still does once symlinks are followed. It returns the
// cleaned path.
func (n *node) checkStoragePath(path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("File storage path must be absolute, got '%s'", path)
	}
	for _, part := range strings.Split(path, "/") {
		if part == ".." {
			return "", fmt.Errorf("Path '%s' is not acceptable for file storage", path)
		}
	}
	clean := filepath.Clean(path)
	allowed := n.allowedFileStoragePaths()
	if len(allowed) == 0 {
		return "", fmt.Errorf("No paths are valid or path file '%s' was not accessible.", n.paths.FileStoragePathsFile)
	}
	if isForbiddenFileStoragePath(clean) {
		return "", fmt.Errorf("Path '%s' uses a forbidden prefix", path)
	}
	below := func(p string, roots []string) bool {
		for _, r := range roots {
			if filepath.IsAbs(r) && isBelowOrEqual(r, p) {
				return true
			}
		}
		return false
	}
	if !below(clean, allowed) {
		return "", fmt.Errorf("Path '%s' is not acceptable for file storage", path)
	}
	cluster := n.clusterStorageDirs()
	if len(cluster) > 0 && !below(clean, cluster) {
		return "", fmt.Errorf("Path '%s' is not below the cluster's file storage directories", path)
	}
	var resolvedAllowed []string
	for _, a := range allowed {
		if filepath.IsAbs(a) {
			resolvedAllowed = append(resolvedAllowed, resolveExisting(a))
		}
	}
	if real := resolveExisting(clean); !below(real, resolvedAllowed) || isForbiddenFileStoragePath(real) {
		return "", fmt.Errorf("Path '%s' leads outside the file storage paths (to '%s')", path, real)
	}
	return clean, nil
}

// rpcFileStorageDirCreate makes an instance's storage directory: [path].
func rpcFileStorageDirCreate(n *node, args []json.RawMessage) (any, error) {
	var dir string
	if err := decodeArgs(args, &dir); err != nil {
		return nil, err
	}
	dir, err := n.checkStoragePath(dir)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return nil, fmt.Errorf("Specified storage dir '%s' is not a directory", dir)
		}
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("Cannot create file storage directory '%s': %v", dir, err)
	}
	return nil, nil
}

// rpcFileStorageDirRemove removes an instance's storage directory if it
// is empty: [path].
func rpcFileStorageDirRemove(n *node, args []json.RawMessage) (any, error) {
	var dir string
	if err := decodeArgs(args, &dir); err != nil {
		return nil, err
	}
	dir, err := n.checkStoragePath(dir)
	if err != nil {
		return nil, err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return nil, nil
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("Specified Storage directory '%s' is not a directory", dir)
	}
	if err := syscall.Rmdir(dir); err != nil {
		return nil, fmt.Errorf("Cannot remove file storage directory '%s': %v", dir, err)
	}
	return nil, nil
}

// rpcFileStorageDirRename renames an instance's storage directory:
// [old, new].
func rpcFileStorageDirRename(n *node, args []json.RawMessage) (any, error) {
	var oldDir, newDir string
	if err := decodeArgs(args, &oldDir, &newDir); err != nil {
		return nil, err
	}
	oldDir, err := n.checkStoragePath(oldDir)
	if err != nil {
		return nil, err
	}
	if newDir, err = n.checkStoragePath(newDir); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(newDir); err == nil {
		if _, err := os.Lstat(oldDir); err == nil {
			return nil, fmt.Errorf("Cannot rename '%s' to '%s': both locations exist", oldDir, newDir)
		}
		return nil, nil
	}
	if !isDir(oldDir) {
		return nil, fmt.Errorf("Specified storage dir '%s' is not a directory", oldDir)
	}
	if err := os.Rename(oldDir, newDir); err != nil {
		return nil, fmt.Errorf("Cannot rename '%s' to '%s': %v", oldDir, newDir, err)
	}
	return nil, nil
}

// checkAllowedFileStoragePaths is node_verify's
// allowed-file-storage-paths, answered on the master only.
func (v *verifier) checkAllowedFileStoragePaths(raw json.RawMessage) error {
	var master string
	if err := json.Unmarshal(raw, &master); err != nil {
		return fmt.Errorf("node_verify: bad allowed-file-storage-paths: %v", err)
	}
	if master == v.myName {
		v.result["allowed-file-storage-paths"] = v.n.forbiddenAllowedPaths()
	}
	return nil
}

// checkStorageDir is node_verify's file-storage-path and
// shared-file-storage-path: why the directory cannot hold file disks.
func (v *verifier) checkStorageDir(key string, raw json.RawMessage) error {
	var dir string
	if err := json.Unmarshal(raw, &dir); err != nil {
		return fmt.Errorf("node_verify: bad %s: %v", key, err)
	}
	if dir == "" {
		return nil
	}
	if err := v.n.checkFileStoragePath(dir); err != nil {
		v.result[key] = err.Error()
	}
	return nil
}
