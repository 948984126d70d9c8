package main

import "syscall"

// lockMemory keeps the daemon in RAM (mlockall(MCL_CURRENT|MCL_FUTURE)) so
// that it still answers the master when the node swaps heavily.
func lockMemory() error {
	return syscall.Mlockall(syscall.MCL_CURRENT | syscall.MCL_FUTURE)
}
