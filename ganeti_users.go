package main

import (
	"os/user"
	"strconv"
)

// Ganeti's system users and groups (Debian's build). Files the master
// uploads may only be owned by these.
var (
	ganetiUsers  = []string{"gnt-masterd", "gnt-confd", "gnt-rapi", "gnt-metad", "root"}
	ganetiGroups = []string{"gnt-masterd", "gnt-confd", "gnt-luxid", "gnt-rapi", "gnt-metad", "gnt-daemons", "gnt-admin", "root"}
)

// ganetiEnts maps Ganeti's user and group names to this node's ids.
type ganetiEnts struct {
	users, groups map[string]int
}

// lookupEnts resolves the names that exist on this node; a missing one is
// left out (uploads naming it are refused).
func lookupEnts() *ganetiEnts {
	e := &ganetiEnts{users: map[string]int{}, groups: map[string]int{}}
	for _, name := range ganetiUsers {
		if u, err := user.Lookup(name); err == nil {
			if id, err := strconv.Atoi(u.Uid); err == nil {
				e.users[name] = id
			}
		}
	}
	for _, name := range ganetiGroups {
		if g, err := user.LookupGroup(name); err == nil {
			if id, err := strconv.Atoi(g.Gid); err == nil {
				e.groups[name] = id
			}
		}
	}
	return e
}

// uid returns the id of a Ganeti user, or -1 (keep the daemon's) when the
// user does not exist on this node.
func (e *ganetiEnts) uid(name string) int {
	if id, ok := e.users[name]; ok {
		return id
	}
	return -1
}

func (e *ganetiEnts) gid(name string) int {
	if id, ok := e.groups[name]; ok {
		return id
	}
	return -1
}
