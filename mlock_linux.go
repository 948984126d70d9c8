package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// mclOnFault (MCL_ONFAULT, Linux 4.4) locks pages as they are touched
// instead of faulting in every mapping at once. Without it the Go runtime's
// heap arenas (64 MiB each) would be made resident and pinned whole.
const mclOnFault = 4

// lockMemory keeps the daemon in RAM so that it still answers the master
// when the node swaps heavily or its root disk fails: the heap is locked as
// it is touched, the executable's own mappings whole and at once, so that
// code which has not run yet need not be read from the disk later.
func lockMemory() error {
	err := syscall.Mlockall(syscall.MCL_CURRENT | syscall.MCL_FUTURE | mclOnFault)
	if errors.Is(err, syscall.EINVAL) { // kernel older than 4.4
		return syscall.Mlockall(syscall.MCL_CURRENT | syscall.MCL_FUTURE)
	}
	if err != nil {
		return err
	}
	return lockExecutable()
}

// lockExecutable mlocks every mapping of the daemon's executable file
// (text, read-only data, data); mlock(2) faults the pages in.
func lockExecutable() error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("cannot find own executable: %w", err)
	}
	st, err := os.Stat("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("cannot stat own executable: %w", err)
	}
	ino := st.Sys().(*syscall.Stat_t).Ino
	ranges, err := fileMappings("/proc/self/maps", strings.TrimSuffix(exe, " (deleted)"), ino)
	if err != nil {
		return err
	}
	if len(ranges) == 0 {
		return fmt.Errorf("no mapping of %s in /proc/self/maps", exe)
	}
	for _, r := range ranges {
		if _, _, e := syscall.Syscall(syscall.SYS_MLOCK, r[0], r[1]-r[0], 0); e != 0 {
			return fmt.Errorf("cannot lock %s at %#x-%#x: %w", exe, r[0], r[1], e)
		}
	}
	return nil
}

// fileMappings reads a maps file and returns the [start, end) ranges that
// map the file at path with inode ino.
func fileMappings(mapsFile, path string, ino uint64) ([][2]uintptr, error) {
	f, err := os.Open(mapsFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ranges [][2]uintptr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.SplitN(sc.Text(), " ", 6)
		if len(fields) < 6 {
			continue
		}
		name := strings.TrimSuffix(strings.TrimLeft(fields[5], " "), " (deleted)")
		if n, err := strconv.ParseUint(fields[4], 10, 64); err != nil || n != ino || name != path {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("%s: bad address range %q", mapsFile, fields[0])
		}
		ranges = append(ranges, [2]uintptr{uintptr(start), uintptr(end)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", mapsFile, err)
	}
	return ranges, nil
}
