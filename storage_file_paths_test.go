package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFileStorageDirs(t *testing.T) {
	n, file, shared := storageNode(t)
	inst := filepath.Join(file, "inst1.example.com")
	mustOK(t, call(t, n, "file_storage_dir_create", inst), nil)
	if st, err := os.Stat(inst); err != nil || !st.IsDir() || st.Mode().Perm() != 0o750 {
		t.Fatalf("created %v %v", st, err)
	}
	mustOK(t, call(t, n, "file_storage_dir_create", inst), nil) // exists: fine
	renamed := filepath.Join(file, "inst2.example.com")
	mustOK(t, call(t, n, "file_storage_dir_rename", inst, renamed), nil)
	if !isDir(renamed) || isDir(inst) {
		t.Fatal("rename did not move the directory")
	}
	os.MkdirAll(inst, 0o750)
	mustFail(t, call(t, n, "file_storage_dir_rename", inst, renamed), "both locations exist")
	os.WriteFile(filepath.Join(renamed, "disk0"), []byte("data"), 0o600)
	mustFail(t, call(t, n, "file_storage_dir_remove", renamed), "Cannot remove file storage directory")
	mustOK(t, call(t, n, "file_storage_dir_remove", inst), nil)
	if isDir(inst) {
		t.Fatal("empty directory not removed")
	}
	mustOK(t, call(t, n, "file_storage_dir_remove", inst), nil) // gone already: fine
	mustOK(t, call(t, n, "file_storage_dir_create", filepath.Join(shared, "inst3")), nil)
	os.WriteFile(filepath.Join(file, "plain"), nil, 0o600)
	mustFail(t, call(t, n, "file_storage_dir_create", filepath.Join(file, "plain")), "is not a directory")
}

func TestFileStorageDirRefusals(t *testing.T) {
	n, file, _ := storageNode(t)
	outside := filepath.Join(t.TempDir(), "outside")
	os.Symlink(filepath.Dir(outside), filepath.Join(file, "escape"))
	for path, msg := range map[string]string{
		"relative/dir":                         "must be absolute",
		filepath.Join(file, "../../etc/x"):     "is not acceptable",
		"/etc/ganeti/x":                        "forbidden prefix",
		outside:                                "is not acceptable",
		filepath.Join(file, "escape/outside"):  "leads outside",
		filepath.Join(n.paths.Root, "srv/zzz"): "is not acceptable",
	} {
		mustFail(t, call(t, n, "file_storage_dir_create", path), msg)
	}
	if _, err := os.Stat(outside); !os.IsNotExist(err) {
		t.Fatal("a refused path was created through a symlink")
	}
	// Listed in the paths file but outside the cluster's directories.
	other := filepath.Join(n.paths.Root, "srv/other")
	os.MkdirAll(other, 0o755)
	os.WriteFile(n.paths.FileStoragePathsFile, []byte(file+"\n"+other+"\n"), 0o644)
	mustFail(t, call(t, n, "file_storage_dir_create", filepath.Join(other, "x")), "not below the cluster's file storage directories")
	os.Remove(n.paths.FileStoragePathsFile)
	mustFail(t, call(t, n, "file_storage_dir_create", filepath.Join(file, "x")), "No paths are valid")
}
