package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestIsOwnTemp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		targets []string
		want    bool
	}{
		{".ssconf_cluster_name.123456789.new", nil, true},
		{".config.data.1.new", nil, true},
		{".hosts.42.new", []string{"hosts"}, true},
		{".hosts.42.new", []string{"authorized_keys"}, false},
		{".x.abc.new", nil, false},   // not digits
		{".x..new", nil, false},      // no digits
		{"..1.new", nil, false},      // no target name
		{".x.1.new.bak", nil, false}, // other suffix
		{"x.1.new", nil, false},      // no leading dot
		{".x.1.tmp", nil, false},     // other suffix
		{".x.1.2.new", nil, true},    // target ".x.1" is possible
		{".x.-1.new", nil, false},    // sign
		{"ssconf_cluster_name", nil, false},
	} {
		if got := isOwnTemp(tc.name, tc.targets); got != tc.want {
			t.Errorf("isOwnTemp(%q, %q) = %v, want %v", tc.name, tc.targets, got, tc.want)
		}
	}
	// The names createLockedTemp makes are recognised.
	dir := t.TempDir()
	tmp, err := createLockedTemp(filepath.Join(dir, "ssconf_x"))
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	if name := filepath.Base(tmp.Name()); !isOwnTemp(name, []string{"ssconf_x"}) {
		t.Errorf("createLockedTemp made %q, not recognised", name)
	}
}

func TestRemoveStaleTemps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stale := []string{".ssconf_master_node.4242.new", ".config.data.1.new"}
	kept := []string{"ssconf_master_node", ".x.abc.new", "x.1.new", ".keep.1.new.bak"}
	for _, name := range append(slices.Clone(stale), kept...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, ".dir.1.new"), 0o700) // not a regular file
	kept = append(kept, ".dir.1.new")
	// A temporary another daemon is writing right now stays.
	busy, err := createLockedTemp(filepath.Join(dir, "ssconf_cluster_name"))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	kept = append(kept, filepath.Base(busy.Name()))

	removed, err := removeStaleTemps(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	slices.Sort(stale)
	if !slices.Equal(removed, stale) {
		t.Errorf("removed %q, want %q", removed, stale)
	}
	for _, name := range kept {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s not kept: %v", name, err)
		}
	}
	if removed, err := removeStaleTemps(filepath.Join(dir, "missing"), nil); err != nil || removed != nil {
		t.Errorf("missing directory: %q %v", removed, err)
	}
}
