package main

import (
	"errors"
	"syscall"
)

// mclOnFault (MCL_ONFAULT, Linux 4.4) locks pages as they are touched
// instead of faulting in every mapping at once. Without it the Go runtime's
// heap arenas (64 MiB each) would be made resident and pinned whole.
const mclOnFault = 4

// lockMemory keeps the daemon in RAM so that it still answers the master
// when the node swaps heavily.
func lockMemory() error {
	err := syscall.Mlockall(syscall.MCL_CURRENT | syscall.MCL_FUTURE | mclOnFault)
	if errors.Is(err, syscall.EINVAL) { // kernel older than 4.4
		err = syscall.Mlockall(syscall.MCL_CURRENT | syscall.MCL_FUTURE)
	}
	return err
}
