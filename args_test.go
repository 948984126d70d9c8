package main

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// TestRequestNumbers decodes each bounded type from the JSON a master (or
// an attacker) could send: values at and beyond the limits, fractions
// where an integer is needed, and non-numbers.
func TestRequestNumbers(t *testing.T) {
	t.Parallel()
	type value interface{ UnmarshalJSON([]byte) error }
	cases := []struct {
		name string
		dst  func() value
		in   string
		want string // "" : accepted; otherwise a substring of the error
	}{
		{"MiB zero", func() value { return new(mebibytes) }, "0", ""},
		{"MiB 1 TiB", func() value { return new(mebibytes) }, "1048576", ""},
		{"MiB limit", func() value { return new(mebibytes) }, "1099511627776", ""},
		{"MiB past limit", func() value { return new(mebibytes) }, "1099511627777", "out of range"},
		{"MiB 2^44", func() value { return new(mebibytes) }, "17592186044416", "out of range"},
		{"MiB 2^62", func() value { return new(mebibytes) }, "4611686018427387904", "out of range"},
		{"MiB max int64", func() value { return new(mebibytes) }, "9223372036854775807", "out of range"},
		{"MiB past int64", func() value { return new(mebibytes) }, "9223372036854775808", "out of range"},
		{"MiB negative", func() value { return new(mebibytes) }, "-1", "out of range"},
		{"MiB min int64", func() value { return new(mebibytes) }, "-9223372036854775808", "out of range"},
		{"MiB 1e308", func() value { return new(mebibytes) }, "1e308", "out of range"},
		{"MiB 1e999", func() value { return new(mebibytes) }, "1e999", "out of range"},
		{"MiB fraction", func() value { return new(mebibytes) }, "1.5", "must be an integer"},
		{"MiB float literal", func() value { return new(mebibytes) }, "1024.0", "must be an integer"},
		{"MiB string", func() value { return new(mebibytes) }, `"1024"`, "must be an integer"},
		{"MiB bool", func() value { return new(mebibytes) }, "true", "must be an integer"},
		{"bytes limit", func() value { return new(byteSize) }, "1152921504606846976", ""},
		{"bytes past limit", func() value { return new(byteSize) }, "1152921504606846977", "out of range"},
		{"bytes negative", func() value { return new(byteSize) }, "-1", "out of range"},
		{"index", func() value { return new(index) }, "3", ""},
		{"index negative", func() value { return new(index) }, "-1", "out of range"},
		{"index huge", func() value { return new(index) }, "4294967296", "out of range"},
		{"count huge", func() value { return new(count) }, "4611686018427387904", "out of range"},
		{"port", func() value { return new(portNumber) }, "11000", ""},
		{"port past 65535", func() value { return new(portNumber) }, "65536", "out of range"},
		{"mode st_mode", func() value { return new(fileMode) }, "33184", ""},
		{"mode huge", func() value { return new(fileMode) }, "4294967296", "out of range"},
		{"seconds fraction", func() value { return new(seconds) }, "0.25", ""},
		{"seconds integer", func() value { return new(seconds) }, "3600", ""},
		{"seconds negative", func() value { return new(seconds) }, "-1", "out of range"},
		{"seconds 1e308", func() value { return new(seconds) }, "1e308", "out of range"},
		{"seconds 1e999", func() value { return new(seconds) }, "1e999", "out of range"},
		{"seconds 2^63", func() value { return new(seconds) }, "9223372036854775808", "out of range"},
		{"seconds string", func() value { return new(seconds) }, `"soon"`, "must be a number"},
		{"time now", func() value { return new(unixTime) }, "1700000000.5", ""},
		{"time before epoch", func() value { return new(unixTime) }, "-86400", ""},
		{"time 1e308", func() value { return new(unixTime) }, "1e308", "out of range"},
		{"time -1e308", func() value { return new(unixTime) }, "-1e308", "out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.dst().UnmarshalJSON([]byte(c.in))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("%s refused: %v", c.in, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("%s: error %v, want one containing %q", c.in, err, c.want)
			}
		})
	}
}

// TestRequestNumbersThroughDecodeArgs checks the decoders work as
// arguments and struct fields, that null keeps the zero value as for
// plain numbers, and that a refused number stays recognisable.
func TestRequestNumbersThroughDecodeArgs(t *testing.T) {
	t.Parallel()
	var size mebibytes
	var d disk
	var wait seconds
	if err := decodeArgs([]json.RawMessage{json.RawMessage("512"), json.RawMessage(`{"size": 1024, "spindles": 2}`), json.RawMessage("null")},
		&size, &d, &wait); err != nil {
		t.Fatal(err)
	}
	if size.bytes() != 512<<20 || d.Size != 1024 || d.Spindles == nil || *d.Spindles != 2 || wait.duration() != 0 {
		t.Fatalf("decoded %d, %+v, %v", size, d, wait)
	}
	err := decodeArgs([]json.RawMessage{json.RawMessage(`{"size": 17592186044416}`)}, &d)
	var ne *numberError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "argument 1: size in MiB 17592186044416 out of range") {
		t.Fatalf("disk of 2^44 MiB: %v", err)
	}
	err = decodeArgs([]json.RawMessage{json.RawMessage(`{"spindles": -1}`)}, &d)
	if !errors.As(err, &ne) {
		t.Fatalf("negative spindles: %v", err)
	}
	if s := seconds(maxRequestSeconds); s.duration() != maxRequestSeconds*time.Second {
		t.Fatalf("longest duration %v", s.duration())
	}
}

func TestWholeParam(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   any
		want int64
		err  string
	}{
		{128.0, 128, ""},
		{0.0, 0, ""},
		{-1.0, 0, "out of range"},
		{1.5, 0, "must be an integer"},
		{1e308, 0, "out of range"},
		{math.Inf(1), 0, "out of range"},
		{math.NaN(), 0, "must be an integer"},
		{float64(1 << 62), 0, "out of range"},
		{"128", 0, "must be an integer"},
		{nil, 0, "must be an integer"},
	}
	for _, c := range cases {
		got, err := wholeParam(c.in, "beparams maxmem", 0, maxMiB)
		if c.err == "" && (err != nil || got != c.want) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("wholeParam(%v) = %d, %v; want %d, %q", c.in, got, err, c.want, c.err)
		}
	}
}

func TestCheckedArithmetic(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		f        func(a, b int64, what string) (int64, error)
		a, b     int64
		want     int64
		overflow bool
	}{
		{"add", checkedAdd, 1 << 30, 1 << 30, 1 << 31, false},
		{"add negative", checkedAdd, -5, 3, -2, false},
		{"add wraps", checkedAdd, math.MaxInt64, 1, 0, true},
		{"add wraps low", checkedAdd, math.MinInt64, -1, 0, true},
		{"add file size and the largest size", checkedAdd, 1 << 30, math.MaxInt64 - 1<<29, 0, true},
		{"mul", checkedMul, 1024, 1 << 20, 1 << 30, false},
		{"mul zero", checkedMul, 0, math.MaxInt64, 0, false},
		{"mul MiB 2^44", checkedMul, 1 << 44, 1 << 20, 0, true},
		{"mul negative", checkedMul, -3, 4, -12, false},
		{"mul min int64", checkedMul, math.MinInt64, -1, 0, true},
		{"mul min int64 swapped", checkedMul, -1, math.MinInt64, 0, true},
	}
	for _, c := range cases {
		got, err := c.f(c.a, c.b, "test")
		if (err != nil) != c.overflow || got != c.want {
			t.Errorf("%s(%d, %d) = %d, %v", c.name, c.a, c.b, got, err)
		}
	}
}

func TestDecodeTuple(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{`["a", 1, {"k": true}]`, ""},
		{`["a", 1]`, "expected 3 elements, got 2"},
		{`["a", 1, {}, 4]`, "expected 3 elements, got 4"},
		{`["a", "1", {}]`, "element 2: "},
		{`{"a": 1}`, "cannot unmarshal object"},
		{`null`, "expected 3 elements, got 0"},
	}
	for _, tt := range tests {
		var s string
		var i int
		var m map[string]any
		err := decodeTuple([]byte(tt.in), &s, &i, &m)
		if tt.wantErr == "" {
			if err != nil || s != "a" || i != 1 || m["k"] != true {
				t.Errorf("decodeTuple(%s) = %v; got %q %d %v", tt.in, err, s, i, m)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("decodeTuple(%s) error = %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}
