package main

import (
	"encoding/json"
	"testing"
)

func TestKVMCPUMasks(t *testing.T) {
	for _, c := range []struct {
		mask string
		want string
	}{{"", "[]"}, {"all", "[]"}, {"0-2,5", "[[0,1,2,5]]"}, {"3,1,1-2", "[[1,2,3]]"}, {"0:all:1-2", "[[0],null,[1,2]]"}, {"0::1", "[[0],null,[1]]"}} {
		got, err := kvmCPUMasks(c.mask, 3)
		if b, _ := json.Marshal(got); err != nil || (string(b) != c.want && !(c.want == "[]" && got == nil)) {
			t.Errorf("%q: %s %v, want %s", c.mask, b, err, c.want)
		}
	}
	for _, bad := range []string{"x", "1-2-3", "3-1", "-1", "all,1", "1:x"} {
		if _, err := kvmCPUMasks(bad, -1); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
