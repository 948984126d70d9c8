package main

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxDecompressed bounds what one compressed argument may expand to, so a
// small request cannot make the daemon allocate without limit.
const maxDecompressed = 256 << 20

// argError marks a malformed call (wrong count or type of arguments);
// err is the decoder's error, if any (a *numberError for a refused number).
type argError struct {
	msg string
	err error
}

func (e *argError) Error() string { return e.msg }
func (e *argError) Unwrap() error { return e.err }

// decodeArgs unpacks the JSON argument list into dst, one value each, in
// order. Structs decode with encoding/json, which ignores unknown fields.
func decodeArgs(args []json.RawMessage, dst ...any) error {
	if len(args) != len(dst) {
		return &argError{msg: fmt.Sprintf("expected %d arguments, got %d", len(dst), len(args))}
	}
	for i, d := range dst {
		if err := json.Unmarshal(args[i], d); err != nil {
			return &argError{fmt.Sprintf("argument %d: %v", i+1, err), err}
		}
	}
	return nil
}

// decodeTuple unpacks one of Ganeti's tuples, a JSON list of exactly
// len(dst) values, into dst in order; decodeArgs is the same for the
// argument list itself. The error says which element did not decode.
func decodeTuple(b []byte, dst ...any) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if len(raw) != len(dst) {
		return fmt.Errorf("expected %d elements, got %d", len(dst), len(raw))
	}
	for i, d := range dst {
		if err := json.Unmarshal(raw[i], d); err != nil {
			return fmt.Errorf("element %d: %v", i+1, err)
		}
	}
	return nil
}

// compressedText is an argument the master may compress (rpc's
// ED_COMPRESS): [0, "plain text"] or [1, "<base64 of zlib data>"]. A plain
// JSON string is accepted too.
type compressedText string

func (c *compressedText) UnmarshalJSON(b []byte) error {
	var plain string
	if err := json.Unmarshal(b, &plain); err == nil {
		*c = compressedText(plain)
		return nil
	}
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil || len(pair) != 2 {
		return fmt.Errorf("compressed data must be [encoding, data]")
	}
	var enc int
	var data string
	if err := json.Unmarshal(pair[0], &enc); err != nil {
		return fmt.Errorf("compressed data: bad encoding: %v", err)
	}
	if err := json.Unmarshal(pair[1], &data); err != nil {
		return fmt.Errorf("compressed data: bad payload: %v", err)
	}
	switch enc {
	case 0:
		*c = compressedText(data)
		return nil
	case 1:
		raw, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return fmt.Errorf("compressed data: %v", err)
		}
		zr, err := zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("compressed data: %v", err)
		}
		// Into a strings.Builder, so the text is not copied once more
		// into a string.
		var out strings.Builder
		if _, err := io.Copy(&out, io.LimitReader(zr, maxDecompressed+1)); err != nil {
			return fmt.Errorf("compressed data: %v", err)
		}
		if out.Len() > maxDecompressed {
			return fmt.Errorf("compressed data expands beyond %d bytes", maxDecompressed)
		}
		*c = compressedText(out.String())
		return nil
	default:
		return fmt.Errorf("unknown data encoding %d", enc)
	}
}

// Request numbers. Every size, offset, index, port, count and duration a
// request carries is decoded by one of the types below, or checked with
// wholeParam when it arrives inside a free-form map, so that whatever the
// daemon later multiplies (MiB→bytes, seconds→Duration) or adds
// (offset+size) is known to stay far from the int64 limits. A JSON null
// leaves the value unchanged, as encoding/json does for plain numbers.
const (
	// maxMiB bounds sizes and offsets in MiB: 2^40 MiB is 1 EiB, so the
	// bytes of a sum of two of them stay below 2^61.
	maxMiB = 1 << 40
	// maxBytes bounds sizes in bytes: maxMiB MiB.
	maxBytes = maxMiB << 20
	// maxIndex bounds disk and NIC indices and hotplug sequence numbers.
	maxIndex = 1 << 16
	// maxCount bounds counts such as spindles and vcpus.
	maxCount = 1 << 31
	// maxRequestSeconds bounds durations (ten years), well inside the
	// ~292 years a time.Duration holds.
	maxRequestSeconds = 10 * 365 * 24 * 3600
	// maxUnixTime bounds timestamps either side of the epoch: the end of
	// the year 9999.
	maxUnixTime = 253402300799
)

// numberError is a request number refused by the decoders below.
type numberError struct{ msg string }

func (e *numberError) Error() string { return e.msg }

// maxNumberLiteral bounds the text of a number argument: longer is no
// number the daemon takes (a float's shortest form has at most 24
// characters), and refusing it before conversion copies nothing.
const maxNumberLiteral = 64

// wholeNumber parses a JSON number literal that must be an integer in
// [lo, hi]; fractions, exponents, strings and out-of-range values are
// refused naming what the number is.
func wholeNumber(b []byte, what string, lo, hi int64) (int64, error) {
	b = bytes.TrimSpace(b)
	if len(b) > maxNumberLiteral {
		return 0, &numberError{fmt.Sprintf("%s must be a number of at most %d characters", what, maxNumberLiteral)}
	}
	s := string(b)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Not an integer literal: a fraction, an exponent (1e308), a
		// string or too many digits for int64.
		f, ferr := strconv.ParseFloat(s, 64)
		valued := ferr == nil || errors.Is(ferr, strconv.ErrRange)
		if errors.Is(err, strconv.ErrRange) || valued && f == math.Trunc(f) && (f < float64(lo) || f > float64(hi)) {
			return 0, &numberError{fmt.Sprintf("%s %s out of range [%d, %d]", what, truncate(s, 40), lo, hi)}
		}
		return 0, &numberError{fmt.Sprintf("%s must be an integer, got %s", what, truncate(s, 40))}
	}
	if v < lo || v > hi {
		return 0, &numberError{fmt.Sprintf("%s %d out of range [%d, %d]", what, v, lo, hi)}
	}
	return v, nil
}

// realNumber parses a JSON number literal that must be finite and in
// [lo, hi] (Ganeti's floats: durations, timestamps).
func realNumber(b []byte, what string, lo, hi float64) (float64, error) {
	b = bytes.TrimSpace(b)
	if len(b) > maxNumberLiteral {
		return 0, &numberError{fmt.Sprintf("%s must be a number of at most %d characters", what, maxNumberLiteral)}
	}
	s := string(b)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		// Not a number at all: a type error, not a refused value.
		return 0, fmt.Errorf("%s must be a number, got %s", what, truncate(s, 40))
	}
	if err != nil || math.IsNaN(f) || f < lo || f > hi {
		return 0, &numberError{fmt.Sprintf("%s %s out of range [%v, %v]", what, s, lo, hi)}
	}
	return f, nil
}

// wholeParam checks a number that arrived in a map decoded as any (a
// float64): an integer in [lo, hi].
func wholeParam(v any, what string, lo, hi int64) (int64, error) {
	f, ok := v.(float64)
	if !ok {
		return 0, &numberError{fmt.Sprintf("%s must be an integer, got %s", what, pyStr(v))}
	}
	if f != math.Trunc(f) {
		return 0, &numberError{fmt.Sprintf("%s must be an integer, got %v", what, f)}
	}
	// Compared as floats (lo and hi are below 2^53, exact as floats), so
	// a value beyond them is refused before any conversion to int64.
	if f < float64(lo) || f > float64(hi) {
		return 0, &numberError{fmt.Sprintf("%s %v out of range [%d, %d]", what, f, lo, hi)}
	}
	return int64(f), nil
}

// mebibytes is a size or offset in MiB: an integer in [0, maxMiB].
type mebibytes int64

func (m *mebibytes) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := wholeNumber(b, "size in MiB", 0, maxMiB)
	*m = mebibytes(v)
	return err
}

// bytes is the size in bytes; it cannot overflow within maxMiB.
func (m mebibytes) bytes() int64 { return int64(m) << 20 }

// byteSize is a size in bytes: an integer in [0, maxBytes].
type byteSize int64

func (s *byteSize) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := wholeNumber(b, "size in bytes", 0, maxBytes)
	*s = byteSize(v)
	return err
}

// index is a disk or NIC index or a hotplug sequence number: an integer
// in [0, maxIndex].
type index int

func (x *index) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := wholeNumber(b, "index", 0, maxIndex)
	*x = index(v)
	return err
}

// count is a number of things (spindles): an integer in [0, maxCount].
type count int64

func (c *count) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := wholeNumber(b, "count", 0, maxCount)
	*c = count(v)
	return err
}

// portNumber is a TCP or UDP port: an integer in [0, 65535] (0: unset).
type portNumber int

func (p *portNumber) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := wholeNumber(b, "port", 0, 65535)
	*p = portNumber(v)
	return err
}

// fileMode is a file mode as os.stat's st_mode (Ganeti sends it whole):
// an integer in [0, 0o177777]; only the permission, set-id and sticky
// bits are used.
type fileMode int64

func (m *fileMode) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := wholeNumber(b, "file mode", 0, 0o177777)
	*m = fileMode(v)
	return err
}

// seconds is a duration as Ganeti sends it, a number of seconds (a
// fraction is fine): finite, in [0, maxRequestSeconds].
type seconds float64

func (s *seconds) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := realNumber(b, "duration in seconds", 0, maxRequestSeconds)
	*s = seconds(v)
	return err
}

// duration converts; it cannot overflow within maxRequestSeconds.
func (s seconds) duration() time.Duration { return time.Duration(float64(s) * float64(time.Second)) }

// unixTime is a timestamp in (fractional) seconds since the epoch, in
// [-maxUnixTime, maxUnixTime].
type unixTime float64

func (t *unixTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := realNumber(b, "timestamp", -maxUnixTime, maxUnixTime)
	*t = unixTime(v)
	return err
}

// time converts, keeping the fraction as nanoseconds.
func (t unixTime) time() time.Time {
	sec, frac := math.Modf(float64(t))
	return time.Unix(int64(sec), int64(frac*1e9))
}

// numberRefusal rewrites err as "<prefix>: <why>" when it is (or wraps) a
// refused request number, keeping a procedure's own wording for a bad
// value; other errors are returned unchanged.
func numberRefusal(err error, prefix string) error {
	var ne *numberError
	if errors.As(err, &ne) {
		return fmt.Errorf("%s: %v", prefix, ne)
	}
	return err
}

// checkedAdd is a+b, or an error naming what when the sum overflows int64.
func checkedAdd(a, b int64, what string) (int64, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, &numberError{fmt.Sprintf("%s overflows: %d + %d", what, a, b)}
	}
	return s, nil
}

// checkedMul is a*b, or an error naming what when the product overflows
// int64.
func checkedMul(a, b int64, what string) (int64, error) {
	if a == 0 || b == 0 {
		return 0, nil
	}
	p := a * b
	if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return 0, &numberError{fmt.Sprintf("%s overflows: %d * %d", what, a, b)}
	}
	return p, nil
}

func isJSONNumberOrNull(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	_, isNum := v.(float64)
	return isNum || v == nil
}
