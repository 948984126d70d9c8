package main

import (
	"fmt"
	"math/rand"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// Ganeti's user-id pool: qemu runs under a uid taken from the cluster's
// uid_pool (ssconf). A uid is taken while its lock file under
// /var/run/ganeti/uid-pool exists; the flock on it only guards the choice.

func (n *node) uidPoolDir() string { return filepath.Join(n.paths.RunDir, "uid-pool") }

// parseUIDPool reads ranges such as "1000-1009" or "1010", one per line.
func parseUIDPool(value string) ([]int, error) {
	seen := map[int]bool{}
	var uids []int
	for _, def := range strings.Split(value, "\n") {
		if def == "" {
			continue
		}
		bounds := strings.Split(def, "-")
		if len(bounds) > 2 {
			return nil, fmt.Errorf("Invalid user-id range definition. Only one hyphen allowed: %s", def)
		}
		lo, err1 := strconv.Atoi(strings.TrimSpace(bounds[0]))
		hi, err2 := strconv.Atoi(strings.TrimSpace(bounds[len(bounds)-1]))
		if err1 != nil || err2 != nil || lo < 0 || hi < lo || hi-lo > 1<<20 {
			return nil, fmt.Errorf("Invalid user-id range definition: %s", def)
		}
		for u := lo; u <= hi; u++ {
			if !seen[u] {
				seen[u] = true
				uids = append(uids, u)
			}
		}
	}
	return uids, nil
}

// lockedUID is a uid chosen for a starting instance, still locked.
type lockedUID struct {
	uid  int
	lock *os.File
}

func (l *lockedUID) unlock() { l.lock.Close() }

// userName is the account qemu's -runas needs.
func (l *lockedUID) userName() (string, error) {
	u, err := user.LookupId(strconv.Itoa(l.uid))
	if err != nil {
		return "", hvErrorf("No user name for user-id %d of the uid pool: %v", l.uid, err)
	}
	return u.Username, nil
}

// requestUnusedUID picks a uid of the pool nobody holds: first the ones
// without a lock file, then the others (their owner may be gone), each
// time in random order, skipping uids some process runs as.
func (n *node) requestUnusedUID() (*lockedUID, error) {
	pool, err := n.paths.readSsconf("uid_pool")
	if err != nil && !isNotExist(err) {
		return nil, hvErrorf("%v", err)
	}
	all, err := parseUIDPool(pool)
	if err != nil {
		return nil, hvErrorf("%v", err)
	}
	dir := n.uidPoolDir()
	if err := ensureDir(dir, 0o755); err != nil {
		return nil, hvErrorf("Failed to create user-id pool lock dir: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, hvErrorf("Failed to get list of used user-ids: %v", err)
	}
	taken := map[int]bool{}
	for _, e := range entries {
		if u, err := strconv.Atoi(e.Name()); err == nil {
			taken[u] = true
		}
	}
	var unused, used []int
	for _, u := range all {
		if taken[u] {
			used = append(used, u)
		} else {
			unused = append(unused, u)
		}
	}
	if len(unused) == 0 {
		n.log.Infof("All user-ids in the uid-pool are marked 'taken'")
	}
	rand.Shuffle(len(unused), func(i, j int) { unused[i], unused[j] = unused[j], unused[i] })
	rand.Shuffle(len(used), func(i, j int) { used[i], used[j] = used[j], used[i] })
	running := uidsInUse()
	for _, u := range append(unused, used...) {
		path := filepath.Join(dir, strconv.Itoa(u))
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o664)
		if err != nil {
			return nil, hvErrorf("Failed to create lockfile for user-id %d: %v", u, err)
		}
		if err := tryLock(f); err != nil {
			f.Close()
			if isLocked(err) {
				continue
			}
			return nil, hvErrorf("Failed to lock the lockfile for user-id %d: %v", u, err)
		}
		if running[u] {
			n.log.Debugf("There is already a process running under user-id %d", u)
			f.Close()
			continue
		}
		return &lockedUID{uid: u, lock: f}, nil
	}
	return nil, hvErrorf("Failed to find an unused user-id")
}

// releaseUID gives a uid back to the pool (drops its lock file).
func (n *node) releaseUID(uid int) error {
	if err := os.Remove(filepath.Join(n.uidPoolDir(), strconv.Itoa(uid))); err != nil {
		return hvErrorf("Failed to remove user-id lockfile for user-id %d: %s", uid, pyEnvError(err))
	}
	return nil
}

// uidsInUse are the effective uids of running processes (what Ganeti
// asks pgrep -u), zombies left out.
func uidsInUse() map[int]bool {
	used := map[int]bool{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		data, err := readFileLimited(filepath.Join("/proc", e.Name(), "status"), 64<<10)
		if err != nil {
			continue
		}
		uid, zombie := -1, false
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 2 && f[0] == "State:":
				zombie = f[1] == "Z" || f[1] == "X"
			case len(f) >= 3 && f[0] == "Uid:":
				uid, _ = strconv.Atoi(f[2])
			}
		}
		// A killed qemu stays a zombie until its parent (init) reaps it;
		// it no longer runs as the uid.
		if uid >= 0 && !zombie {
			used[uid] = true
		}
	}
	return used
}
