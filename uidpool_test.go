package main

import (
	"testing"
)

func TestUIDPoolParse(t *testing.T) {
	uids, err := parseUIDPool("1000-1002\n\n1001\n2000")
	if err != nil || len(uids) != 4 {
		t.Fatalf("%v %v", uids, err)
	}
	for _, bad := range []string{"1-2-3", "x", "5-3"} {
		if _, err := parseUIDPool(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
