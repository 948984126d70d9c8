package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// watcherPauseGrace is how long after its end a pause file is kept.
const watcherPauseGrace = 3600

// rpcGetWatcherPause returns the pause end (Unix seconds) or null.
func rpcGetWatcherPause(n *node, args []json.RawMessage) (any, error) {
	path := n.paths.WatcherPauseFile
	data, err := readFileLimited(path, 4096)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	until, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		n.log.Warningf("Watcher pause file (%s) contains invalid value, removing it", path)
		os.Remove(path)
		return nil, nil
	}
	now := time.Now().Unix()
	if now > until+watcherPauseGrace {
		os.Remove(path)
		return nil, nil
	}
	if now > until {
		return nil, nil
	}
	return until, nil
}

// rpcSetWatcherPause writes the pause end, or removes it for null.
func rpcSetWatcherPause(n *node, args []json.RawMessage) (any, error) {
	var until *unixTime
	if len(args) == 1 && !isJSONNumberOrNull(args[0]) {
		return nil, errors.New("Duration must be numeric")
	}
	if err := decodeArgs(args, &until); err != nil {
		return nil, err
	}
	path := n.paths.WatcherPauseFile
	if until == nil {
		n.log.Infof("Received request to no longer pause watcher")
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, nil
	}
	n.log.Infof("Received request to pause watcher until %d", int64(*until))
	return nil, writeFile(path, []byte(fmt.Sprintf("%d\n", int64(*until))), 0o644)
}
