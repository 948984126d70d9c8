package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	jobQueueVersion     = 1
	jobQueueFileMode    = 0o640
	jobQueueDirMode     = 0o750
	jobQueueLockTimeout = 10 * time.Second
)

// prepareQueue checks the queue's version file and creates the version and
// serial files of a new queue, as Ganeti does when its node daemon starts.
func (n *node) prepareQueue() error {
	p := n.paths
	if st, err := os.Stat(p.QueueDir); err != nil || !st.IsDir() {
		return fmt.Errorf("job queue directory %s is missing", p.QueueDir)
	}
	unlock, err := lockFile(p.QueueLockFile, 0)
	if err != nil {
		// Whoever holds the lock (the master's daemons) has checked it.
		return nil
	}
	defer unlock()
	for _, f := range []struct {
		path    string
		initial int
	}{{p.QueueVersionFile, jobQueueVersion}, {p.QueueSerialFile, 0}} {
		value, err := readNumericFile(f.path)
		if errors.Is(err, os.ErrNotExist) {
			if err := n.writeQueueFile(f.path, []byte(fmt.Sprintf("%d\n", f.initial))); err != nil {
				return err
			}
			value, err = f.initial, nil
		}
		if err != nil {
			return err
		}
		if f.path == p.QueueVersionFile && value != jobQueueVersion {
			return fmt.Errorf("Found job queue version %d, expected %d", value, jobQueueVersion)
		}
	}
	return nil
}

func readNumericFile(path string) (int, error) {
	data, err := readFileLimited(path, 4096)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("Content of file '%s' is not numeric: %v", path, err)
	}
	return v, nil
}

// writeQueueFile writes a queue file owned by gnt-masterd:gnt-daemons.
func (n *node) writeQueueFile(path string, data []byte) error {
	return writeFileAtomic(path, data, writeOptions{Mode: jobQueueFileMode,
		UID: n.ents.uid("gnt-masterd"), GID: n.ents.gid("gnt-daemons")})
}

// withQueueLock runs fn holding the queue lock: the in-process mutex orders
// our own calls, the flock excludes Ganeti's master daemons.
func (n *node) withQueueLock(fn func() error) error {
	n.queueMu.Lock()
	defer n.queueMu.Unlock()
	if err := n.prepareQueue(); err != nil {
		return fmt.Errorf("Job queue failed initialization, cannot update jobs: %w", err)
	}
	timeout := cmp.Or(n.waits.queueLock, jobQueueLockTimeout)
	unlock, err := lockFile(n.paths.QueueLockFile, timeout)
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

// queueFile localizes a path from the master and checks it lies below the
// queue directory (after cleaning, so ".." cannot escape).
func (n *node) queueFile(name string) (string, error) {
	path := n.paths.localize(name)
	clean := filepath.Clean(path)
	if !filepath.IsAbs(path) || !strings.HasPrefix(clean, n.paths.QueueDir+"/") {
		return "", fmt.Errorf("Passed job queue file '%s' does not belong to the queue directory '%s'", path, n.paths.QueueDir)
	}
	return clean, nil
}

// rpcJobqueueUpdate writes one job file: [file_name, content].
func rpcJobqueueUpdate(n *node, args []json.RawMessage) (any, error) {
	var name string
	var content compressedText
	if err := decodeArgs(args, &name, &content); err != nil {
		return nil, err
	}
	path, err := n.queueFile(name)
	if err != nil {
		return nil, err
	}
	return nil, n.withQueueLock(func() error {
		if err := n.writeQueueFile(path, []byte(content)); err != nil {
			return fmt.Errorf("jobqueue_update %s: %w", path, err)
		}
		return nil
	})
}

// rpcJobqueuePurge removes the regular files of the queue (but its lock)
// and of the archive's top level; archive subdirectories stay, as in Ganeti.
func rpcJobqueuePurge(n *node, args []json.RawMessage) (any, error) {
	if err := decodeArgs(args); err != nil {
		return nil, err
	}
	return nil, n.withQueueLock(func() error {
		if err := removeRegularFiles(n.paths.QueueDir, n.paths.QueueLockFile); err != nil {
			return err
		}
		return removeRegularFiles(n.paths.QueueArchiveDir, "")
	})
}

// removeRegularFiles deletes the visible regular files directly in dir
// (not symlinks, not subdirectories), except keep.
func removeRegularFiles(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if strings.HasPrefix(e.Name(), ".") || path == keep || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// rpcJobqueueRename renames job files: [[[old, new], ...]]. All names are
// checked before the first rename; the result has one null per pair.
func rpcJobqueueRename(n *node, args []json.RawMessage) (any, error) {
	var pairs [][2]string
	if err := decodeArgs(args, &pairs); err != nil {
		return nil, err
	}
	type rename struct{ old, new string }
	var renames []rename
	for _, p := range pairs {
		old, err := n.queueFile(p[0])
		if err != nil {
			return nil, err
		}
		new, err := n.queueFile(p[1])
		if err != nil {
			return nil, err
		}
		renames = append(renames, rename{old, new})
	}
	results := make([]any, len(renames))
	err := n.withQueueLock(func() error {
		for _, r := range renames {
			err := os.Rename(r.old, r.new)
			if errors.Is(err, os.ErrNotExist) {
				// Archiving moves jobs into directories made on demand.
				dir := filepath.Dir(r.new)
				if mkErr := os.Mkdir(dir, jobQueueDirMode); mkErr == nil {
					os.Chown(dir, n.ents.uid("gnt-masterd"), n.ents.gid("gnt-daemons"))
				}
				err = os.Rename(r.old, r.new)
			}
			if err != nil {
				return fmt.Errorf("jobqueue_rename: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// rpcJobqueueSetDrainFlag creates or removes the queue's drain file.
func rpcJobqueueSetDrainFlag(n *node, args []json.RawMessage) (any, error) {
	var flag bool
	if err := decodeArgs(args, &flag); err != nil {
		return nil, err
	}
	return nil, n.withQueueLock(func() error {
		if flag {
			return n.writeQueueFile(n.paths.QueueDrainFile, nil)
		}
		if err := os.Remove(n.paths.QueueDrainFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	})
}
