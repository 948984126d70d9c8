package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

// FuzzRPCBody sends arbitrary bodies to every procedure (but test_delay,
// which would sleep): whatever arrives, the reply is a well-formed
// [bool, value] or an HTTP error, and nothing panics past the handler.
func FuzzRPCBody(f *testing.F) {
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range procedures {
			if name != "test_delay" && !yield(name) {
				return
			}
		}
	})
	for _, seed := range []string{`[]`, `[null]`, `[[0, "x"]]`, `[{"a": 1}]`, `["/etc/passwd", [1, "eJw="], 420, "root", "root", 1, 2]`, `[[["a", "b"]]]`, `{}`, `[`, `[1e999]`} {
		f.Add(uint8(0), seed)
		f.Add(uint8(7), seed)
	}
	n, _ := newTestNode(f)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		name := names[int(which)%len(names)]
		rec := callRaw(t, n, http.MethodPost, name, body)
		switch rec.Code {
		case http.StatusOK:
			var pair []json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &pair); err != nil || len(pair) != 2 {
				t.Fatalf("%s %q: reply %q", name, body, rec.Body)
			}
			var ok bool
			if json.Unmarshal(pair[0], &ok) != nil {
				t.Fatalf("%s %q: first element not a bool: %q", name, body, rec.Body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("%s %q: status %d", name, body, rec.Code)
		}
	})
}
