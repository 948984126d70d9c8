package main

import (
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
